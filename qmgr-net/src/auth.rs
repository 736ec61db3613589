//! Answering `401` challenges with the group's credentials: Basic (RFC 7617) and Digest
//! (RFC 7616: MD5, SHA-256, SHA-512-256 and their `-sess` variants, `qop=auth`, and the RFC 2069
//! form without `qop`), computed by the `http-auth` crate.
//!
//! What is decided — whether to answer, which challenge, when a `401` is final — is
//! `qmgr_core::rules::credentials` (DECISIONS D1, D11, D15); this module parses the
//! `WWW-Authenticate` headers into its offers, keeps the answering state of each origin that
//! challenged (Digest: its nonce and nonce count), and writes the `Authorization` values.

use crate::cause::status_failure;
use crate::url::{self, Request, Url};
use http_auth::digest::{Algorithm, Qop};
use http_auth::parser::ChallengeParser;
use http_auth::{DigestClient, PasswordParams};
use qmgr_core::rules::credentials::{self, Challenge, Offer, Reply, Scheme};
use qmgr_core::transport::{Credentials, Failure};
use std::collections::HashMap;
use ureq::http::HeaderMap;

/// The credentials of one fetch and the origins (scheme, host, port) that challenged it.
pub(crate) struct Auth<'a> {
    credentials: Option<&'a Credentials>,
    allow_over_http: bool,
    /// Every origin that challenged in this fetch and was answered: it gets credentials with
    /// each later request (DECISIONS D11); no other origin ever does.
    origins: HashMap<::url::Origin, Answering>,
}

/// How an origin's challenge is answered.
struct Answering {
    client: Client,
    /// Stale-nonce challenges answered since the origin's last answer other than `401`.
    stale_answers: u32,
}

enum Client {
    Basic,
    /// Keeps the nonce and counts it (`nc`) across the requests answered with it.
    Digest(Box<DigestClient>),
}

/// A challenge qmgr can answer, as parsed.
enum Parsed {
    Basic,
    Digest(Box<DigestClient>),
}

impl<'a> Auth<'a> {
    /// Nothing challenged yet.
    pub(crate) fn new(credentials: Option<&'a Credentials>, allow_over_http: bool) -> Auth<'a> {
        Auth { credentials, allow_over_http, origins: HashMap::new() }
    }

    /// The `Authorization` value for `request` with `method` (`GET`, or `HEAD` for a probe),
    /// when its origin challenged earlier in this fetch; `None` otherwise. A Digest answer
    /// counts one more use of its nonce.
    ///
    /// Errors: a fatal `401` failure naming `shown` when the credentials cannot be written
    /// into a Digest answer (e.g. a `"` in the URL's path).
    pub(crate) fn authorization(
        &mut self,
        request: &Request,
        shown: &str,
        method: &str,
    ) -> Result<Option<String>, Failure> {
        let (Some(c), Some(answering)) = (self.credentials, self.origins.get_mut(&request.url().origin())) else {
            return Ok(None);
        };
        match &mut answering.client {
            Client::Basic => Ok(Some(http_auth::basic::encode_credentials(&c.user, &c.password))),
            Client::Digest(d) => {
                let uri = request.target();
                let params = PasswordParams { username: &c.user, password: &c.password, uri, method, body: None };
                d.respond(&params)
                    .map(Some)
                    .map_err(|e| status_failure(401, shown, None, &format!("the Digest answer cannot be written: {e}")))
            }
        }
    }

    /// An answer other than `401` came from `url`: its origin's stale-nonce count restarts.
    pub(crate) fn answered(&mut self, url: &Url) {
        if let Some(a) = self.origins.get_mut(&url.origin()) {
            a.stale_answers = 0;
        }
    }

    /// A `401` from `url` (shown as `shown`) with headers `h`, to a request that carried
    /// credentials when `sent`. `Ok` when the request is to be repeated, answering the
    /// challenge `rules::credentials::on_challenge` chose.
    ///
    /// Errors: the fatal `401` failure, with the rule's reason (and, when nothing offered
    /// can be answered, the challenges offered).
    pub(crate) fn challenged(&mut self, url: &Url, shown: &str, h: &HeaderMap, sent: bool) -> Result<(), Failure> {
        let refuse = |reason: &str| status_failure(401, shown, None, reason);
        let origin = url.origin();
        let (offers, mut parsed) = parse_challenges(h);
        let challenge = Challenge {
            offers: &offers,
            has_credentials: self.credentials.is_some(),
            https: url::is_https(url),
            allow_over_http: self.allow_over_http,
            sent,
            stale_answers: self.origins.get(&origin).map_or(0, |a| a.stale_answers),
        };
        match credentials::on_challenge(&challenge) {
            Reply::Answer { offer } => {
                let client = match parsed[offer].take() {
                    Some(Parsed::Digest(d)) => Client::Digest(d),
                    _ => Client::Basic,
                };
                let stale_answers = challenge.stale_answers + u32::from(sent);
                log::debug!(
                    "{shown}: answering the 401 with {:?} (stale answers {stale_answers})",
                    offers[offer].scheme
                );
                self.origins.insert(origin, Answering { client, stale_answers });
                Ok(())
            }
            Reply::Refuse(credentials::Refusal::Unsupported) => {
                let offered: Vec<&str> = h.get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()).collect();
                let reason = credentials::Refusal::Unsupported.reason();
                Err(refuse(&format!("{reason}; offered: {}", offered.join("; "))))
            }
            Reply::Refuse(refusal) => Err(refuse(refusal.reason())),
        }
    }
}

/// The challenges of every `WWW-Authenticate` header of `h`, in order, as the rule's offers
/// and, beside each, what answers it (`None` for a challenge qmgr cannot answer). A header
/// that stops parsing contributes the challenges before the error.
fn parse_challenges(h: &HeaderMap) -> (Vec<Offer>, Vec<Option<Parsed>>) {
    let mut offers = Vec::new();
    let mut parsed = Vec::new();
    for value in h.get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()) {
        for challenge in ChallengeParser::new(value) {
            let Ok(challenge) = challenge else {
                offers.push(Offer { scheme: None, stale: false });
                parsed.push(None);
                break;
            };
            let (offer, p) = if challenge.scheme.eq_ignore_ascii_case("Basic") {
                (Offer { scheme: Some(Scheme::Basic), stale: false }, Some(Parsed::Basic))
            } else if challenge.scheme.eq_ignore_ascii_case("Digest") {
                match DigestClient::try_from(&challenge) {
                    // Only `qop=auth` (or none): `auth-int` would hash a request body, and a
                    // GET has none.
                    Ok(d) if d.qop() & Qop::Auth => {
                        let scheme = digest_scheme(d.algorithm());
                        (Offer { scheme, stale: d.stale() }, scheme.map(|_| Parsed::Digest(Box::new(d))))
                    }
                    _ => (Offer { scheme: None, stale: false }, None),
                }
            } else {
                (Offer { scheme: None, stale: false }, None)
            };
            offers.push(offer);
            parsed.push(p);
        }
    }
    (offers, parsed)
}

/// The rule's name for a Digest algorithm (`-sess` or not).
fn digest_scheme(a: Algorithm) -> Option<Scheme> {
    match a {
        Algorithm::Md5 => Some(Scheme::DigestMd5),
        Algorithm::Sha256 => Some(Scheme::DigestSha256),
        Algorithm::Sha512Trunc256 => Some(Scheme::DigestSha512_256),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("www-authenticate", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// A parameter of an `Authorization: Digest …` value (quoted or not).
    fn param<'v>(value: &'v str, name: &str) -> Option<&'v str> {
        value.strip_prefix("Digest ")?.split(", ").find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.trim_matches('"'))
        })
    }

    fn u(url: &str) -> Url {
        Url::parse(url).unwrap()
    }

    const SHA256: &str = "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256";
    const MD5: &str = "Digest realm=\"r\", nonce=\"n2\", qop=\"auth, auth-int\", algorithm=MD5";

    #[test]
    fn challenges_become_offers_in_order() {
        let h = headers(&[
            "Negotiate, Basic realm=\"b\"",
            MD5,
            SHA256,
            "Digest realm=\"r\", nonce=\"x\", qop=\"auth-int\"",
        ]);
        let (offers, parsed) = parse_challenges(&h);
        let schemes: Vec<Option<Scheme>> = offers.iter().map(|o| o.scheme).collect();
        use Scheme::*;
        assert_eq!(schemes, [None, Some(Basic), Some(DigestMd5), Some(DigestSha256), None]);
        assert_eq!(parsed.iter().map(Option::is_some).collect::<Vec<_>>(), [false, true, true, true, false]);
        let (offers, _) =
            parse_challenges(&headers(&["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256-sess, stale=true"]));
        assert_eq!(offers, [Offer { scheme: Some(DigestSha256), stale: true }]);
        let (offers, _) = parse_challenges(&headers(&["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-1"]));
        assert_eq!(offers, [Offer { scheme: None, stale: false }], "unknown algorithm");
        let (offers, _) = parse_challenges(&headers(&["Basic realm=\"unterminated"]));
        assert_eq!(offers, [Offer { scheme: None, stale: false }], "unparsable");
    }

    #[test]
    fn digest_sha256_is_chosen_and_its_nonce_counted_per_request_of_that_origin_only() {
        let creds = Credentials { user: "u".into(), password: "p".into() };
        let mut auth = Auth::new(Some(&creds), false);
        let (url, shown) = (&u("https://h/a/b?c=1"), "https://h/a/b?c=1");
        assert_eq!(
            auth.authorization(&Request::new(url.clone(), None), shown, "GET").unwrap(),
            None,
            "nothing before a challenge"
        );
        auth.challenged(url, shown, &headers(&["Basic realm=\"b\"", MD5, SHA256]), false).unwrap();
        let first = auth.authorization(&Request::new(url.clone(), None), shown, "GET").unwrap().unwrap();
        assert_eq!(param(&first, "algorithm"), Some("SHA-256"), "{first}");
        assert_eq!((param(&first, "nonce"), param(&first, "nc")), (Some("n1"), Some("00000001")), "{first}");
        assert_eq!((param(&first, "uri"), param(&first, "qop")), (Some("/a/b?c=1"), Some("auth")), "{first}");
        let second =
            auth.authorization(&Request::new(u("https://H:443/other#f"), None), shown, "GET").unwrap().unwrap();
        assert_eq!((param(&second, "nc"), param(&second, "uri")), (Some("00000002"), Some("/other")), "{second}");
        assert_ne!(param(&first, "cnonce"), None);
        assert_eq!(
            auth.authorization(&Request::new(u("https://h:8443/a"), None), shown, "GET").unwrap(),
            None,
            "another origin"
        );
        assert_eq!(
            auth.authorization(&Request::new(u("http://h/a"), None), shown, "GET").unwrap(),
            None,
            "another origin"
        );
    }

    #[test]
    fn a_stale_nonce_is_answered_again_with_the_new_one_and_a_refusal_is_final() {
        let creds = Credentials { user: "u".into(), password: "p".into() };
        let mut auth = Auth::new(Some(&creds), true);
        let (url, shown) = (&u("http://h/f"), "http://h/f");
        auth.challenged(url, shown, &headers(&[MD5]), false).unwrap();
        assert_eq!(
            param(&auth.authorization(&Request::new(url.clone(), None), shown, "GET").unwrap().unwrap(), "nc"),
            Some("00000001")
        );
        let stale = "Digest realm=\"r\", nonce=\"n3\", qop=\"auth\", stale=true";
        auth.challenged(url, shown, &headers(&[stale]), true).unwrap();
        let again = auth.authorization(&Request::new(url.clone(), None), shown, "GET").unwrap().unwrap();
        assert_eq!((param(&again, "nonce"), param(&again, "nc")), (Some("n3"), Some("00000001")), "{again}");
        let e = auth.challenged(url, shown, &headers(&[MD5]), true).unwrap_err();
        assert!(e.detail.contains("refused"), "{e:?}");
        assert!(!format!("{e:?}").contains("\"p\""), "no password in the failure");
    }

    #[test]
    fn stale_answers_are_bounded_until_another_answer() {
        let creds = Credentials { user: "u".into(), password: "p".into() };
        let mut auth = Auth::new(Some(&creds), true);
        let (url, shown, stale) =
            (&u("http://h/f"), "http://h/f", headers(&["Digest realm=\"r\", nonce=\"s\", qop=\"auth\", stale=true"]));
        auth.challenged(url, shown, &headers(&[MD5]), false).unwrap();
        for _ in 0..credentials::MAX_STALE_ANSWERS {
            auth.challenged(url, shown, &stale, true).unwrap();
        }
        auth.answered(url);
        auth.challenged(url, shown, &stale, true).expect("counted anew after a 200");
        for _ in 1..credentials::MAX_STALE_ANSWERS {
            auth.challenged(url, shown, &stale, true).unwrap();
        }
        let e = auth.challenged(url, shown, &stale, true).unwrap_err();
        assert!(e.detail.contains("stale"), "{e:?}");
    }

    #[test]
    fn withheld_and_unsupported_say_why() {
        let creds = Credentials { user: "u".into(), password: "p".into() };
        let e = Auth::new(Some(&creds), false).challenged(&u("http://h/"), "http://h/", &headers(&[SHA256]), false);
        assert!(e.unwrap_err().detail.contains("withheld"));
        let e = Auth::new(Some(&creds), true).challenged(&u("http://h/"), "http://h/", &headers(&["NTLM"]), false);
        let detail = e.unwrap_err().detail;
        assert!(detail.contains("other than Basic or Digest") && detail.contains("offered: NTLM"), "{detail}");
        let e = Auth::new(None, true).challenged(&u("http://h/"), "http://h/", &headers(&[SHA256]), false);
        assert!(e.unwrap_err().detail.contains("has none"));
    }
}
