//! DECISIONS D1, D11, D15: when a transfer answers an HTTP `401` challenge with the group's
//! credentials (`GROUPPROP_REMOTEUSERID` / `REMOTEUSERPWD`), and with which of the offered
//! authentication schemes.
//!
//! The transport parses the `WWW-Authenticate` headers into [`Offer`]s and computes the
//! answers (qmgr-net, with the `http-auth` crate); this module only decides:
//!
//! * credentials go only in answer to a `401` (never unasked), and from then on to the origin
//!   that challenged, for the rest of that transfer (D11) — never to another origin;
//! * never over plain `http://` unless the option `allow_credentials_over_http` is 1 (D1, D11);
//! * of several challenges, the strongest scheme: Digest SHA-512-256, then Digest SHA-256, then
//!   Digest MD5, then Basic ([`Scheme`]'s order; RFC 7235 §2.1 asks for "the most secure
//!   auth-scheme it understands"); among equals, the first offered (RFC 7616 §3.7);
//! * a `401` to a request that carried credentials means they were refused — fatal — unless it
//!   is a Digest challenge with `stale=true` (the nonce expired, not the password: RFC 7616
//!   §3.3), which is answered again with the new nonce, at most [`MAX_STALE_ANSWERS`] times in
//!   a row, without counting as a failed attempt.
//!
//! A refusal is a fatal `401` (`BG_E_HTTP_ERROR_401`, `dwTransportResult` 401; D5, D11) whose
//! message ends with [`Refusal::reason`].

/// An authentication scheme qmgr answers, weakest first: the derived order is the preference
/// among several challenges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// `Basic` (RFC 7617): user and password, base64-encoded (readable by anyone who sees it).
    Basic,
    /// `Digest` (RFC 7616) with `algorithm=MD5` or `MD5-sess`, or no algorithm.
    DigestMd5,
    /// `Digest` with `SHA-256` or `SHA-256-sess`.
    DigestSha256,
    /// `Digest` with `SHA-512-256` or `SHA-512-256-sess`.
    DigestSha512_256,
}

/// One challenge of a `401` answer's `WWW-Authenticate` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The scheme, or `None` when qmgr cannot answer this challenge (another scheme such as
    /// NTLM or Negotiate, a Digest challenge with an unknown algorithm or only
    /// `qop=auth-int`, a challenge that does not parse).
    pub scheme: Option<Scheme>,
    /// `stale=true` of a Digest challenge: the server refused the nonce, not the credentials.
    pub stale: bool,
}

/// What a transfer knows when a `401` arrives.
#[derive(Clone, Copy, Debug)]
pub struct Challenge<'a> {
    /// The challenges, in the order the server gave them.
    pub offers: &'a [Offer],
    /// Whether the group has credentials (a user name was set).
    pub has_credentials: bool,
    /// Whether the URL that answered is `https://`.
    pub https: bool,
    /// The option `allow_credentials_over_http`.
    pub allow_over_http: bool,
    /// Whether the request that got this `401` carried credentials (its origin had
    /// challenged before in this transfer).
    pub sent: bool,
    /// `stale=true` challenges of this origin answered since its last answer that was not a
    /// `401`.
    pub stale_answers: u32,
}

/// Stale-nonce challenges answered in a row for one origin before the `401` counts as a
/// refusal: a server that calls every nonce stale would otherwise be asked forever.
pub const MAX_STALE_ANSWERS: u32 = 3;

/// What to do with a `401`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Repeat the request, answering `offers[offer]`; the challenging origin gets credentials
    /// with every later request of the transfer.
    Answer {
        /// Index into [`Challenge::offers`].
        offer: usize,
    },
    /// The `401` is final (fatal; DECISIONS D11).
    Refuse(Refusal),
}

/// Why a `401` is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The group has no credentials.
    NoCredentials,
    /// The request carried credentials and the server challenged again (wrong user or
    /// password).
    Refused,
    /// The server called the nonce stale more than [`MAX_STALE_ANSWERS`] times in a row.
    StaleAgain,
    /// No challenge is one qmgr can answer (the transport names what was offered).
    Unsupported,
    /// The URL is plain `http://` and `allow_credentials_over_http` is 0.
    Withheld,
}

impl Refusal {
    /// The end of the job's error message (after "HTTP 401 from URL: "); names no password.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NoCredentials => "the server asks for credentials and the group has none",
            Refusal::Refused => "the server refused the credentials",
            Refusal::StaleAgain => "the server refused the credentials (it called every new nonce stale)",
            Refusal::Unsupported => {
                "the server asks for authentication other than Basic or Digest (MD5, SHA-256, SHA-512-256; qop=auth)"
            }
            Refusal::Withheld => {
                "the server asks for credentials; they were withheld because the URL is plain http:// \
                 (option allow_credentials_over_http is 0)"
            }
        }
    }
}

/// The offer to answer among `offers`: the strongest [`Scheme`], the first of equals; `None`
/// when none can be answered.
pub fn preferred(offers: &[Offer]) -> Option<usize> {
    let mut best: Option<(usize, Scheme)> = None;
    for (i, scheme) in offers.iter().enumerate().filter_map(|(i, o)| o.scheme.map(|s| (i, s))) {
        if best.is_none_or(|(_, b)| scheme > b) {
            best = Some((i, scheme));
        }
    }
    best.map(|(i, _)| i)
}

/// The credentials a transfer answers challenges with (D11): the group's
/// (`GROUPPROP_REMOTEUSERID` / `REMOTEUSERPWD`) when set, else those of the URL's user-info
/// (`http://user:pw@host/…`), which follow the same rules. `None` without either.
pub fn effective<'c, C>(group: Option<&'c C>, url: Option<&'c C>) -> Option<&'c C> {
    group.or(url)
}

/// Answers a `401` (see the module's rules), in this order: no credentials, then a refusal
/// of credentials already sent (unless a stale nonce), then no answerable challenge, then
/// withheld over plain http.
pub fn on_challenge(c: &Challenge<'_>) -> Reply {
    if !c.has_credentials {
        return Reply::Refuse(Refusal::NoCredentials);
    }
    let chosen = preferred(c.offers);
    if c.sent {
        let stale = chosen.is_some_and(|i| c.offers[i].stale && c.offers[i].scheme != Some(Scheme::Basic));
        return match (chosen, stale) {
            (Some(offer), true) if c.stale_answers < MAX_STALE_ANSWERS => Reply::Answer { offer },
            (Some(_), true) => Reply::Refuse(Refusal::StaleAgain),
            _ => Reply::Refuse(Refusal::Refused),
        };
    }
    let Some(offer) = chosen else {
        return Reply::Refuse(Refusal::Unsupported);
    };
    if !c.https && !c.allow_over_http {
        return Reply::Refuse(Refusal::Withheld);
    }
    Reply::Answer { offer }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Scheme::*;

    fn offer(scheme: Option<Scheme>) -> Offer {
        Offer { scheme, stale: false }
    }

    fn stale(scheme: Scheme) -> Offer {
        Offer { scheme: Some(scheme), stale: true }
    }

    /// Offers (in server order) → the one answered.
    #[test]
    fn the_strongest_scheme_is_preferred_the_first_of_equals() {
        let table: [(&[Option<Scheme>], Option<usize>); 8] = [
            (&[], None),
            (&[None], None),
            (&[None, Some(Basic)], Some(1)),
            (&[Some(Basic), Some(DigestMd5)], Some(1)),
            (&[Some(DigestMd5), Some(DigestSha256), Some(Basic)], Some(1)),
            (&[Some(DigestSha256), Some(DigestMd5)], Some(0)),
            (&[Some(DigestSha256), Some(DigestSha512_256)], Some(1)),
            (&[Some(DigestMd5), None, Some(DigestMd5)], Some(0)),
        ];
        for (schemes, want) in table {
            let offers: Vec<Offer> = schemes.iter().map(|s| offer(*s)).collect();
            assert_eq!(preferred(&offers), want, "{schemes:?}");
        }
    }

    /// (offers, credentials, https, allow over http, sent, stale answers) → reply.
    #[test]
    fn challenge_table() {
        use Refusal::*;
        fn c(offers: &[Offer], creds: bool, https: bool, allow: bool, sent: bool, stale: u32) -> Challenge<'_> {
            Challenge { offers, has_credentials: creds, https, allow_over_http: allow, sent, stale_answers: stale }
        }
        let basic = [offer(Some(Basic))];
        let digest = [offer(Some(Basic)), offer(Some(DigestSha256))];
        let stale_digest = [stale(DigestMd5)];
        let stale_basic = [stale(Basic)];
        let unknown = [offer(None)];
        let answer = |offer| Reply::Answer { offer };
        let max = MAX_STALE_ANSWERS;
        let rows = [
            // A first challenge.
            (c(&basic, true, true, false, false, 0), answer(0)),
            (c(&digest, true, true, false, false, 0), answer(1)),
            (c(&basic, true, false, true, false, 0), answer(0)),
            (c(&digest, true, false, false, false, 0), Reply::Refuse(Withheld)),
            (c(&basic, false, true, false, false, 0), Reply::Refuse(NoCredentials)),
            (c(&unknown, false, true, false, false, 0), Reply::Refuse(NoCredentials)),
            (c(&unknown, true, true, false, false, 0), Reply::Refuse(Unsupported)),
            (c(&unknown, true, false, false, false, 0), Reply::Refuse(Unsupported)),
            (c(&[], true, true, false, false, 0), Reply::Refuse(Unsupported)),
            // A challenge to credentials already sent.
            (c(&basic, true, true, false, true, 0), Reply::Refuse(Refused)),
            (c(&digest, true, true, false, true, 0), Reply::Refuse(Refused)),
            (c(&unknown, true, true, false, true, 0), Reply::Refuse(Refused)),
            (c(&stale_digest, true, true, false, true, 0), answer(0)),
            (c(&stale_digest, true, true, false, true, max - 1), answer(0)),
            (c(&stale_digest, true, true, false, true, max), Reply::Refuse(StaleAgain)),
            (c(&stale_basic, true, true, false, true, 0), Reply::Refuse(Refused)),
        ];
        for (challenge, want) in rows {
            assert_eq!(on_challenge(&challenge), want, "{challenge:?}");
        }
    }

    #[test]
    fn reasons_name_the_problem_and_no_secret() {
        assert!(Refusal::Withheld.reason().contains("withheld"), "D11 says so");
        assert!(Refusal::Refused.reason().contains("refused"));
        assert!(Refusal::StaleAgain.reason().contains("stale"));
    }

    #[test]
    fn the_groups_credentials_win_over_the_urls() {
        let (group, url) = ("group", "url");
        assert_eq!(effective(Some(&group), Some(&url)), Some(&group));
        assert_eq!(effective(None, Some(&url)), Some(&url));
        assert_eq!(effective(Some(&group), None), Some(&group));
        assert_eq!(effective::<&str>(None, None), None);
    }
}
