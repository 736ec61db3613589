//! The server side of HTTP Digest authentication (RFC 7616), for the test servers: issues
//! challenges, checks `Authorization: Digest …` answers, and records what it saw.
//!
//! Written from the RFC with the `md-5` and `sha2` crates directly, independent of the
//! `http-auth` crate that qmgr-net answers with (Debian's nginx has no Digest module, so the
//! tests need a server of their own). It checks what a strict server checks:
//!
//! * the response hash (RFC 7616 §3.4.1): `H(H(A1):nonce:nc:cnonce:qop:H(A2))` with `qop=auth`,
//!   `H(H(A1):nonce:H(A2))` without `qop` (RFC 2069); `A1 = user:realm:password`, for the
//!   `-sess` algorithms `H(user:realm:password):nonce:cnonce`; `A2 = method:uri`;
//! * `username`, `realm`, `opaque` as issued, `uri` equal to the request target, `algorithm`
//!   the one of the challenge answered (none = MD5), `qop=auth` and a non-empty `cnonce` when a
//!   qop was offered;
//! * the nonce: issued by this authority, and its nonce count `nc` (8 hex digits) greater
//!   than every earlier one for that nonce (no replay); after [`DigestAuthority::stale_after`]
//!   accepted uses, a right answer with that nonce gets a new challenge with `stale=true`.
//!
//! A wrong answer gets the challenge again (`401`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use md5::Md5;
use sha2::{Digest, Sha256};

/// A Digest algorithm (RFC 7616 §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5`.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// The name in `algorithm=`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn session(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// `H(data)`: the lower-case hex digest.
    fn h(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data.as_bytes()).to_vec(),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What the authority made of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No `Authorization: Digest` header: challenged.
    Missing,
    /// A right answer.
    Accepted {
        /// The algorithm answered.
        algorithm: Algorithm,
        /// Its nonce count.
        nc: u32,
        /// Its client nonce (`None` without qop).
        cnonce: Option<String>,
        /// The nonce answered.
        nonce: String,
    },
    /// A right answer with a nonce used up: challenged again with `stale=true`.
    Stale,
    /// The response hash is wrong (wrong password): challenged again.
    WrongResponse,
    /// A nonce count not above the last one accepted for that nonce: challenged again.
    Replayed {
        /// The count sent.
        nc: u32,
    },
    /// Anything else wrong (unknown nonce, user, realm, uri, opaque, qop, algorithm, syntax).
    Malformed(String),
}

/// The nonces issued and what was seen.
#[derive(Default)]
struct State {
    issued: u64,
    /// Per nonce: the last nonce count accepted, and how many answers it accepted.
    nonces: HashMap<String, (u32, u32)>,
    verdicts: Vec<Verdict>,
}

/// A protection space (realm) with one user, offering Digest challenges (and optionally
/// Basic) and checking the answers. Shared by the connections of a test server.
pub struct DigestAuthority {
    user: String,
    password: String,
    realm: String,
    opaque: String,
    algorithms: Vec<Algorithm>,
    qop: bool,
    basic_first: bool,
    stale_after: Option<u32>,
    state: Mutex<State>,
}

impl std::fmt::Debug for DigestAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuthority")
            .field("user", &self.user)
            .field("algorithms", &self.algorithms)
            .field("qop", &self.qop)
            .finish_non_exhaustive()
    }
}

impl DigestAuthority {
    /// An authority for `user` / `password` offering one challenge with `algorithm` and
    /// `qop="auth"`.
    pub fn new(user: &str, password: &str, algorithm: Algorithm) -> DigestAuthority {
        DigestAuthority {
            user: user.into(),
            password: password.into(),
            realm: "digest@qmgr.test".into(),
            opaque: "0paque/value".into(),
            algorithms: vec![algorithm],
            qop: true,
            basic_first: false,
            stale_after: None,
            state: Mutex::new(State::default()),
        }
    }

    /// Offers one challenge per algorithm, in this order (each 401 has them all).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> DigestAuthority {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Challenges without `qop` (RFC 2069): the response is `H(H(A1):nonce:H(A2))`.
    pub fn without_qop(mut self) -> DigestAuthority {
        self.qop = false;
        self
    }

    /// Offers a Basic challenge before the Digest ones (and never accepts Basic).
    pub fn basic_first(mut self) -> DigestAuthority {
        self.basic_first = true;
        self
    }

    /// A nonce accepts `uses` answers; a right answer after those gets `stale=true`.
    pub fn stale_after(mut self, uses: u32) -> DigestAuthority {
        self.stale_after = Some(uses);
        self
    }

    /// Checks a request (`method`, request `target`, its `Authorization` header). `Ok` when
    /// authorized; else the `WWW-Authenticate` values of the `401` to send.
    pub fn check(&self, method: &str, target: &str, authorization: Option<&str>) -> Result<(), Vec<String>> {
        let verdict = self.judge(method, target, authorization);
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.verdicts.push(verdict.clone());
        match verdict {
            Verdict::Accepted { .. } => Ok(()),
            Verdict::Stale => Err(self.challenges(&mut st, true)),
            _ => Err(self.challenges(&mut st, false)),
        }
    }

    /// Every verdict so far, in request order.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).verdicts.clone()
    }

    /// The challenges of a `401`, all with one new nonce.
    fn challenges(&self, st: &mut State, stale: bool) -> Vec<String> {
        st.issued += 1;
        let seed = format!("{}:{:?}:{:p}", st.issued, std::time::SystemTime::now(), self);
        let nonce = format!("{}-{}", st.issued, &Algorithm::Sha256.h(&seed)[..24]);
        st.nonces.insert(nonce.clone(), (0, 0));
        let mut out = Vec::new();
        if self.basic_first {
            out.push(format!("Basic realm=\"{}\"", self.realm));
        }
        for a in &self.algorithms {
            let mut c = format!("Digest realm=\"{}\"", self.realm);
            if self.qop {
                c.push_str(", qop=\"auth\"");
            }
            c.push_str(&format!(", algorithm={}, nonce=\"{nonce}\", opaque=\"{}\"", a.name(), self.opaque));
            if stale {
                c.push_str(", stale=true");
            }
            out.push(c);
        }
        out
    }

    fn judge(&self, method: &str, target: &str, authorization: Option<&str>) -> Verdict {
        let Some(value) = authorization.and_then(|a| a.strip_prefix("Digest ")) else {
            return Verdict::Missing;
        };
        let params = match parse_params(value) {
            Ok(p) => p,
            Err(e) => return Verdict::Malformed(e),
        };
        let get = |k: &str| params.get(k).map(String::as_str);
        let bad = |what: &str| Verdict::Malformed(format!("{what} in {value}"));
        let name = get("algorithm").unwrap_or("MD5");
        let Some(algorithm) = self.algorithms.iter().copied().find(|a| a.name() == name) else {
            return bad("an algorithm not offered");
        };
        if get("username") != Some(self.user.as_str()) {
            return bad("another user");
        }
        if get("realm") != Some(self.realm.as_str()) || get("opaque") != Some(self.opaque.as_str()) {
            return bad("another realm or opaque");
        }
        if get("uri") != Some(target) {
            return bad("a uri other than the request target");
        }
        let Some(nonce) = get("nonce") else { return bad("no nonce") };
        let Some(&(last_nc, uses)) = self.state.lock().unwrap_or_else(PoisonError::into_inner).nonces.get(nonce) else {
            return bad("a nonce never issued");
        };
        let (nc, cnonce) = if self.qop {
            if get("qop") != Some("auth") {
                return bad("a qop other than auth");
            }
            let Some(nc) = get("nc").filter(|n| n.len() == 8).and_then(|n| u32::from_str_radix(n, 16).ok()) else {
                return bad("no 8-digit hex nc");
            };
            let Some(cnonce) = get("cnonce").filter(|c| !c.is_empty()) else { return bad("no cnonce") };
            (nc, Some(cnonce.to_string()))
        } else {
            if get("qop").is_some() || get("nc").is_some() {
                return bad("qop or nc where none was offered");
            }
            (last_nc + 1, None)
        };
        let mut ha1 = algorithm.h(&format!("{}:{}:{}", self.user, self.realm, self.password));
        if algorithm.session() {
            ha1 = algorithm.h(&format!("{ha1}:{nonce}:{}", cnonce.as_deref().unwrap_or("")));
        }
        let ha2 = algorithm.h(&format!("{method}:{target}"));
        let expected = match &cnonce {
            Some(cn) => algorithm.h(&format!("{ha1}:{nonce}:{nc:08x}:{cn}:auth:{ha2}")),
            None => algorithm.h(&format!("{ha1}:{nonce}:{ha2}")),
        };
        if get("response") != Some(expected.as_str()) {
            return Verdict::WrongResponse;
        }
        if nc <= last_nc {
            return Verdict::Replayed { nc };
        }
        if self.stale_after.is_some_and(|n| uses >= n) {
            return Verdict::Stale;
        }
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.nonces.insert(nonce.to_string(), (nc, uses + 1));
        Verdict::Accepted { algorithm, nc, cnonce, nonce: nonce.to_string() }
    }
}

/// The auth-params of a credentials value: `name=token` or `name="quoted \" string"`,
/// separated by commas (RFC 9110 §11.2). Names are lower-cased.
fn parse_params(value: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut rest = value.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| format!("no '=' in {rest:?}"))?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let v;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut s = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => s.push(chars.next().ok_or("a dangling backslash")?.1),
                    Some((_, c)) => s.push(c),
                    None => return Err(format!("an unterminated quoted string in {value:?}")),
                }
            };
            v = s;
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            v = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        if out.insert(name.clone(), v).is_some() {
            return Err(format!("{name} twice"));
        }
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1: the SHA-256 and MD5 examples ("Mufasa", "Circle of Life").
    #[test]
    fn the_rfc_examples_are_accepted() {
        for (algorithm, response) in [
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (Algorithm::Sha256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ] {
            let mut authority = DigestAuthority::new("Mufasa", "Circle of Life", algorithm);
            authority.realm = "http-auth@example.org".into();
            authority.opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS".into();
            let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
            authority.state.lock().unwrap().nonces.insert(nonce.into(), (0, 0));
            let answer = format!(
                "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
                 algorithm={}, nonce=\"{nonce}\", nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", \
                 qop=auth, response=\"{response}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
                algorithm.name()
            );
            assert_eq!(authority.check("GET", "/dir/index.html", Some(&answer)), Ok(()), "{algorithm:?}");
            let replay = authority.check("GET", "/dir/index.html", Some(&answer));
            assert!(replay.is_err(), "the same nc again");
            let wrong = answer.replace(response, &"0".repeat(response.len()));
            assert!(authority.check("GET", "/dir/index.html", Some(&wrong)).is_err());
            let verdicts = authority.verdicts();
            assert!(matches!(verdicts[0], Verdict::Accepted { nc: 1, .. }), "{verdicts:?}");
            assert_eq!(verdicts[1..], [Verdict::Replayed { nc: 1 }, Verdict::WrongResponse]);
        }
    }

    #[test]
    fn challenges_carry_every_algorithm_and_stale() {
        let a = DigestAuthority::new("u", "p", Algorithm::Md5)
            .algorithms(&[Algorithm::Sha256, Algorithm::Md5])
            .basic_first()
            .stale_after(1);
        let c = a.check("GET", "/", None).unwrap_err();
        assert_eq!(c.len(), 3);
        assert!(c[0].starts_with("Basic "));
        assert!(c[1].contains("algorithm=SHA-256") && c[2].contains("algorithm=MD5") && c[1].contains("qop=\"auth\""));
        assert!(!c[1].contains("stale"));
        assert_eq!(a.verdicts(), [Verdict::Missing]);
    }

    #[test]
    fn params_parse_quoted_and_plain() {
        let p = parse_params(r#"a="x, \"y\"", b=tok , c="""#).unwrap();
        assert_eq!((p["a"].as_str(), p["b"].as_str(), p["c"].as_str()), ("x, \"y\"", "tok", ""));
        assert!(parse_params("a=\"open").is_err());
        assert!(parse_params("a=1, a=2").is_err());
    }
}
