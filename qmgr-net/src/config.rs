//! Building the `ureq::Agent` from the queue options (DESIGN "Our conventions": every
//! timeout set, statuses handled by us, no transparent decompression, no redirects by ureq).

use crate::idle::{IdleConnector, IdleSockets};
use crate::proof::ProvenEnd;
use crate::proxy::ProxyConnector;
use crate::{CHUNK_SIZE, DEFAULT_USER_AGENT};
use qmgr_core::hresult::Error;
use qmgr_core::model::Options;
use qmgr_core::Result;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs};
use ureq::unversioned::transport::{ConnectionDetails, Connector, RustlsConnector, TcpConnector, Transport};
use ureq::{Agent, Proxy};

/// The CA bundle read when the platform's roots cannot be loaded otherwise.
const FALLBACK_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The agents of a configuration: one for foreground and normal background transfers, one
/// whose TCP connections are opened and measured by [`IdleConnector`] for idle-mode transfers
/// (DECISIONS D14; same configuration otherwise, separate connection pools). Both chains end
/// with [`ProvenEnd`], so that a body ends only with proof (DECISIONS D15; `src/proof.rs`),
/// and both start with [`ProxyConnector`]: absolute-form requests through a proxy for plain
/// `http://`, a `CONNECT` tunnel for `https://` (`src/proxy.rs`).
pub(crate) fn build_agents(options: &Options, sockets: &Arc<IdleSockets>) -> Result<(Agent, Agent)> {
    let proxy = match options.proxy.as_deref() {
        None => Proxy::try_from_env(),
        Some("") => None,
        Some(p) => Some(parse_proxy(p)?),
    };
    // Read (and checked, DECISIONS D12) now; the system roots only at the first TLS connection.
    let extra_roots = match options.ca_file.as_str() {
        "" => Vec::new(),
        path => load_pem_certs(path)?,
    };
    let direct = agent_config(options, None, RootCerts::Specific(Arc::default()), CHUNK_SIZE);
    let config = agent_config(options, proxy.clone(), RootCerts::Specific(Arc::default()), CHUNK_SIZE);
    let idle_config = agent_config(options, proxy, RootCerts::Specific(Arc::default()), IDLE_INPUT_BUFFER);
    let tls = Arc::new(LazyTls { options: options.clone(), extra_roots, config: OnceLock::new() });
    let idle = IdleConnector {
        sockets: sockets.clone(),
        connect_timeout: Duration::from_millis(options.connect_timeout_ms.max(1)),
    };
    let proxied = || ProxyConnector { direct: direct.clone() };
    let tls_of = |tls: &Arc<LazyTls>| TlsConnector { tls: tls.clone(), inner: RustlsConnector::default() };
    let connector = ().chain(proxied()).chain(idle).chain(tls_of(&tls)).chain(ProvenEnd);
    let idle_agent = Agent::with_parts(idle_config, connector, DefaultResolver::default());
    let connector = ().chain(proxied()).chain(TcpConnector::default()).chain(tls_of(&tls)).chain(ProvenEnd);
    let agent = Agent::with_parts(config, connector, DefaultResolver::default());
    Ok((agent, idle_agent))
}

/// The configuration TLS connections are made with: the agents' own, with the trusted roots
/// (the system's plus `ca_file`, DECISIONS D5), made at the first TLS connection of the
/// agents rather than with them. Reading and parsing the system's certificates (146 PEM files
/// on Debian) took 2.2 ms of the 11.5 ms of a `qmgr get` of one small `http://` file, which
/// needs none of them.
struct LazyTls {
    options: Options,
    /// The certificates of `ca_file`, read when the agents were built.
    extra_roots: Vec<Certificate<'static>>,
    config: OnceLock<Config>,
}

impl LazyTls {
    fn config(&self) -> &Config {
        self.config.get_or_init(|| {
            let mut roots = system_roots().to_vec();
            roots.extend(self.extra_roots.iter().cloned());
            let roots = if roots.is_empty() {
                log::warn!("no system root certificates found; using the bundled Mozilla roots");
                RootCerts::WebPki
            } else {
                RootCerts::Specific(Arc::new(roots))
            };
            agent_config(&self.options, None, roots, CHUNK_SIZE)
        })
    }
}

/// ureq's rustls connector, given the configuration of [`LazyTls`] for connections that need
/// TLS (only its TLS settings and buffer sizes are read there).
struct TlsConnector {
    tls: Arc<LazyTls>,
    inner: RustlsConnector,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = <RustlsConnector as Connector<In>>::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        if !details.needs_tls() {
            return self.inner.connect(details, chained);
        }
        let with_roots = connection_to(details, details.uri, details.addrs.clone(), self.tls.config());
        self.inner.connect(&with_roots, chained)
    }
}

/// The details of a connection to `uri` at `addrs` made with `config`, as part of the one
/// `details` describes (its resolver, clock, timeout and connector chain).
pub(crate) fn connection_to<'a>(
    details: &ConnectionDetails<'a>,
    uri: &'a Uri,
    addrs: ResolvedSocketAddrs,
    config: &'a Config,
) -> ConnectionDetails<'a> {
    ConnectionDetails {
        uri,
        addrs,
        config,
        request_level: details.request_level,
        resolver: details.resolver,
        now: details.now,
        timeout: details.timeout,
        current_time: details.current_time.clone(),
        run_connector: details.run_connector.clone(),
        register_shutdown: details.register_shutdown.clone(),
    }
}

/// The input buffer of an idle-mode transfer's connection (DECISIONS D14): ureq's default, so
/// that one read takes little off the socket beyond what the rate allows (see
/// `exchange::IDLE_CHUNK`).
const IDLE_INPUT_BUFFER: usize = 128 * 1024;

/// The agents' configuration from the options, with `proxy`, the trusted `roots` and an input
/// buffer of `input_buffer` bytes per connection: the most one read of the socket takes, and
/// so the most one read of a body returns ([`CHUNK_SIZE`] but for idle-mode transfers).
fn agent_config(options: &Options, proxy: Option<Proxy>, roots: RootCerts, input_buffer: usize) -> Config {
    let user_agent = if options.user_agent.is_empty() { DEFAULT_USER_AGENT } else { options.user_agent.as_str() };
    let connect = Duration::from_millis(options.connect_timeout_ms.max(1));
    let read = Duration::from_millis(options.read_timeout_ms.max(1));
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(user_agent)
        .accept_encoding("identity")
        .input_buffer_size(input_buffer)
        // Keep-alive for every connection a group may use at once (DECISIONS D16), in every
        // active group: ureq keeps 3 per host and 10 in all by default.
        .max_idle_connections_per_host((options.max_connections_per_group as usize).max(3))
        .max_idle_connections(
            (options.max_connections_per_group as usize).saturating_mul(options.max_active_groups as usize).max(10),
        )
        .proxy(proxy)
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        // No total budgets: a long download must never hit one.
        .timeout_global(None)
        .timeout_per_call(None)
        .timeout_recv_body(None)
        .timeout_send_body(None)
        // Name resolution is bounded by the system resolver (resolv.conf `timeout`/`attempts`),
        // not here: with a limit ureq resolves on a new thread for every request, even to a
        // kept-alive connection, which costs more than fetching a small file. The transfer
        // stays cancellable meanwhile (exchange.rs runs it on a helper thread).
        .timeout_resolve(None)
        // Connection set-up (TCP, proxy, TLS handshake).
        .timeout_connect(Some(connect))
        // Request head out, answer head in.
        .timeout_send_request(Some(read))
        .timeout_recv_response(Some(read))
        // Stall detection: each socket read or write restarts this limit.
        .timeout_per_read(Some(read))
        .timeout_per_write(Some(read))
        .build()
}

/// A proxy from its URL. Errors: `E_INVALIDARG` naming the option.
pub(crate) fn parse_proxy(value: &str) -> Result<Proxy> {
    Proxy::new(value).map_err(|e| {
        Error::invalid_arg(format!("option proxy: \"{}\" is not a usable proxy URL: {e}", crate::url::redact(value)))
    })
}

/// The platform's trusted roots, loaded once per process (rustls-native-certs honours
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`; else the distribution's bundle).
fn system_roots() -> &'static [Certificate<'static>] {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            log::debug!("loading system root certificates: {e}");
        }
        let mut certs: Vec<_> = loaded.certs.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()).collect();
        if certs.is_empty() {
            if let Ok(pem) = std::fs::read(FALLBACK_BUNDLE) {
                certs = pem_certs(&pem).unwrap_or_default();
            }
        }
        certs
    })
}

fn pem_certs(pem: &[u8]) -> std::result::Result<Vec<Certificate<'static>>, ureq::Error> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let PemItem::Certificate(c) = item? {
            certs.push(c.to_owned());
        }
    }
    Ok(certs)
}

/// The PEM certificates of `path`. Errors: `E_INVALIDARG` when the file cannot be read, is
/// not PEM, or holds no certificate (DECISIONS D12).
pub(crate) fn load_pem_certs(path: &str) -> Result<Vec<Certificate<'static>>> {
    let data =
        std::fs::read(path).map_err(|e| Error::invalid_arg(format!("option ca_file: cannot read \"{path}\": {e}")))?;
    let certs = pem_certs(&data)
        .map_err(|e| Error::invalid_arg(format!("option ca_file: \"{path}\" is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::invalid_arg(format!("option ca_file: \"{path}\" contains no PEM certificate")));
    }
    Ok(certs)
}
