//! A bucket's client, made from the environment the way each cloud's own tools read it
//! (`AWS_*`, `GOOGLE_*`/`STORAGE_EMULATOR_HOST`, `AZURE_STORAGE_*`), with bounded retries
//! and timeouts. Opening makes no request.

use std::sync::Arc;
use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::{Bucket, list::Lister, markers, s3::S3Lister};
use crate::policy::object::{ObjectRoot, Scheme};
use crate::tree::DirId;

pub(super) fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// A field of an Azure connection string (`BlobEndpoint=...;AccountName=...`).
fn connection_field(cs: &str, field: &str) -> Option<String> {
    cs.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(field).then(|| v.trim().to_string())
    })
}

/// Retries: a handful, with backoff, within half a minute; a request that gets no answer
/// is abandoned after a minute. A throttled or failing service ends the run, never loops.
fn client_settings() -> (RetryConfig, ClientOptions) {
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 5,
        retry_timeout: Duration::from_secs(30),
    };
    let options =
        ClientOptions::new().with_connect_timeout(Duration::from_secs(5)).with_timeout(Duration::from_secs(60));
    (retry, options)
}

/// The S3 endpoint the environment names (the AWS tools' variables, then
/// `object_store`'s own), if any.
pub(super) fn s3_endpoint() -> Option<String> {
    env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")).or_else(|| env("AWS_ENDPOINT"))
}

/// The region the environment names (us-east-1 when none does).
pub(super) fn s3_region() -> String {
    env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".into())
}

/// A client for the S3 bucket `bucket`, from the environment. A custom endpoint (a local
/// or on-premises server) is addressed path-style; a plain `http://` one only when
/// `AWS_ALLOW_HTTP=true` says so (`object_store`'s own switch): credentials and deletions
/// must not travel in clear text because a URL was mistyped.
pub(super) fn s3_store(bucket: &str) -> Result<Arc<object_store::aws::AmazonS3>, String> {
    let (retry, options) = client_settings();
    let mut b = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_client_options(options)
        .with_region(s3_region());
    if let Some(ep) = s3_endpoint() {
        let http = ep.to_ascii_lowercase().starts_with("http://");
        if http && !env("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(format!(
                "s3://{bucket}: the endpoint {ep} is plain http: set AWS_ALLOW_HTTP=true to use it (or use https)"
            ));
        }
        b = b.with_allow_http(http).with_endpoint(ep).with_virtual_hosted_style_request(false);
    }
    b.build().map(Arc::new).map_err(|e| format!("s3://{bucket}: cannot set up the client: {e}"))
}

/// Where requests for the S3 bucket `bucket` go: `ENDPOINT/bucket` at a custom endpoint
/// (path-style), else the bucket's virtual host.
pub(super) fn s3_base(bucket: &str) -> String {
    match s3_endpoint() {
        Some(ep) => format!("{}/{bucket}", ep.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.{}.amazonaws.com", s3_region()),
    }
}

impl Bucket {
    /// A client for `url`, configured from the environment the way each cloud's own
    /// tools read it (docs/guide.md, "Object storage").
    pub fn open(url: &ObjectRoot) -> Result<Bucket, String> {
        use std::hash::{Hash, Hasher};
        let (retry, options) = client_settings();
        let fail = |e: object_store::Error| format!("{url}: cannot set up the client: {e}");
        type Clients = (Arc<dyn ObjectStore>, Lister, markers::Markers);
        let (store, lister, markers): Clients = match url.scheme {
            Scheme::S3 => {
                let s = s3_store(&url.bucket)?;
                let base = s3_base(&url.bucket);
                let http = base.starts_with("http://");
                let lister = S3Lister::new(Arc::clone(&s), base, s3_region(), http)
                    .map_err(|e| format!("{url}: cannot set up the client: {e}"))?;
                (s.clone(), Lister::S3(Arc::new(lister)), markers::Markers::s3(s, url))
            }
            Scheme::Azure => {
                let cs = env("AZURE_STORAGE_CONNECTION_STRING").unwrap_or_default();
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(&url.bucket)
                    .with_retry(retry)
                    .with_client_options(options);
                let account = env("AZURE_STORAGE_ACCOUNT_NAME").or_else(|| connection_field(&cs, "AccountName"));
                if let Some(account) = &account {
                    b = b.with_account(account);
                }
                if let Some(key) = env("AZURE_STORAGE_ACCOUNT_KEY").or_else(|| connection_field(&cs, "AccountKey")) {
                    b = b.with_access_key(key);
                }
                let endpoint = env("AZURE_STORAGE_ENDPOINT").or_else(|| connection_field(&cs, "BlobEndpoint"));
                if let Some(ep) = &endpoint {
                    b = b.with_allow_http(ep.starts_with("http://")).with_endpoint(ep.clone());
                }
                let s = Arc::new(b.build().map_err(fail)?);
                let account = account.unwrap_or_default();
                (s.clone(), Lister::Store(s.clone()), markers::Markers::azure(s, url, account, endpoint))
            }
            Scheme::Gcs => {
                let mut options = options;
                let mut emulator = None;
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&url.bucket)
                    .with_retry(retry);
                if let Some(host) = env("STORAGE_EMULATOR_HOST") {
                    // The emulator convention of Google's own client libraries.
                    let base = if host.contains("://") { host } else { format!("http://{host}") };
                    options = options.with_allow_http(base.starts_with("http://"));
                    emulator = Some(base.trim_end_matches('/').to_string());
                    b = b.with_base_url(base.trim_end_matches('/')).with_credentials(Arc::new(
                        object_store::StaticCredentialProvider::new(object_store::gcp::GcpCredential {
                            bearer: String::new(),
                        }),
                    ));
                } else if let Some(p) = env("GOOGLE_APPLICATION_CREDENTIALS") {
                    b = b.with_application_credentials(p);
                }
                let s = Arc::new(b.with_client_options(options).build().map_err(fail)?);
                (s.clone(), Lister::Store(s.clone()), markers::Markers::gcs(s, url, emulator))
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sweep-object")
            .enable_all()
            .build()
            .map_err(|e| format!("{url}: cannot start the client's threads: {e}"))?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        url.to_string().hash(&mut h);
        let id = DirId { dev: h.finish() | 1 << 63, ino: 1 };
        Ok(Bucket { url: url.clone(), id, store, lister, markers, rt })
    }
}
