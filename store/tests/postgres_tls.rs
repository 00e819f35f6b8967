//! TLS to PostgreSQL, per `sslmode`, through a TLS-terminating proxy the
//! test runs (so the test server itself needs no TLS): the proxy answers
//! PostgreSQL's `SSLRequest` with `S`, completes the handshake with a
//! certificate of its own and forwards the plaintext to the server named
//! by `SOUK_TEST_PG_URL`.
//!
//! One test in its own binary: the store reads the trusted roots once per
//! process, and this test trusts a CA it makes through `SSL_CERT_FILE`
//! before anything connects.

mod support;

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use souk_store::postgres::testing::{scratch_database, with_database};
use souk_store::postgres::tokio_postgres;
use souk_store::{
    EventStore, ExpectedRevision, NewEvent, PostgresConfig, PostgresStore, StoreError,
};
use support::upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The request code of PostgreSQL's `SSLRequest` (after its length, 8).
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn event() -> NewEvent {
    NewEvent {
        event_type: "Tested".to_owned(),
        version: 1,
        data: "{}".to_owned(),
    }
}

/// A CA for the test.
fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A server certificate for `names`, issued by `ca`, with its key.
fn server_cert(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, ca)
        .unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// A proxy that speaks TLS to the client and plaintext to PostgreSQL;
/// counts completed handshakes.
struct TlsProxy {
    port: u16,
    handshakes: Arc<AtomicUsize>,
}

impl TlsProxy {
    async fn start(
        upstream: String,
        (cert, key): (CertificateDer<'static>, PrivateKeyDer<'static>),
    ) -> TlsProxy {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&handshakes);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (acceptor, upstream, counted) =
                    (acceptor.clone(), upstream.clone(), Arc::clone(&counted));
                tokio::spawn(async move {
                    let mut first = [0u8; 8];
                    if client.read_exact(&mut first).await.is_err() || first != SSL_REQUEST {
                        // Only TLS is served here.
                        return;
                    }
                    if client.write_all(b"S").await.is_err() {
                        return;
                    }
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::Relaxed);
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        });
        TlsProxy { port, handshakes }
    }

    /// The test database through this proxy, with `sslmode`.
    fn url(&self, database_url: &str, sslmode: &str) -> String {
        let config = tokio_postgres::Config::from_str(database_url).unwrap();
        let user = config.get_user().expect("a user in SOUK_TEST_PG_URL");
        let database = config.get_dbname().expect("a database");
        let base = with_database(
            &format!("postgres://{user}@127.0.0.1:{}", self.port),
            database,
        );
        format!("{base}?sslmode={sslmode}")
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::Relaxed)
    }
}

async fn connects(url: &str) -> Result<PostgresStore, StoreError> {
    let store = PostgresStore::connect(url, PostgresConfig::default()).await?;
    store
        .append("conversation-tls", ExpectedRevision::Any, vec![event()])
        .await?;
    Ok(store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_with_require_and_opportunistic_with_prefer() {
    let trusted = ca("souk test CA");
    let dir = tempfile::tempdir().unwrap();
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, trusted.pem()).unwrap();
    // Before anything connects: the roots are read once per process.
    std::env::set_var("SSL_CERT_FILE", &roots);

    let url = scratch_database().await;
    let upstream = upstream(&url);
    let good = TlsProxy::start(upstream.clone(), server_cert(&trusted, &["127.0.0.1"])).await;
    let wrong_name =
        TlsProxy::start(upstream.clone(), server_cert(&trusted, &["db.invalid"])).await;
    let stranger =
        TlsProxy::start(upstream, server_cert(&ca("someone else"), &["127.0.0.1"])).await;

    // A certificate of a trusted CA for the address connected to.
    for mode in ["require", "verify-full", "verify-ca"] {
        let store = connects(&good.url(&url, mode))
            .await
            .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"));
        assert!(store.is_available());
    }
    assert!(good.handshakes() >= 3);

    // `require` checks the name and the issuer.
    for (what, proxy) in [("another name", &wrong_name), ("an unknown CA", &stranger)] {
        match connects(&proxy.url(&url, "require")).await {
            Err(StoreError::Unavailable(_)) => {}
            Err(other) => panic!("{what}: unexpected {other:?}"),
            Ok(_) => panic!("{what}: sslmode=require must refuse the certificate"),
        }
    }
    assert_eq!(wrong_name.handshakes() + stranger.handshakes(), 0);

    // `prefer` encrypts whatever the certificate, as libpq does.
    let before = stranger.handshakes();
    connects(&stranger.url(&url, "prefer"))
        .await
        .expect("sslmode=prefer connects over TLS");
    assert!(
        stranger.handshakes() > before,
        "the connection was encrypted"
    );

    let log = connects(&url)
        .await
        .unwrap()
        .read_all(1, 100)
        .await
        .unwrap();
    assert_eq!(log.len(), 3 + 1 + 1);
}
