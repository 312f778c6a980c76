//! Directory markers: the zero-byte objects named `KEY/` that consoles, Hadoop and sync
//! tools create for folders. `object_store` cannot name a key that ends in `/` (its paths
//! drop a trailing delimiter), so the one request sweep makes about a marker — deleting
//! one the run emptied — is built here and signed with the crate's own public
//! authorizers (SigV4 for S3, SharedKey or a token for Azure, a bearer token for GCS),
//! and sent through its HTTP client, with its retries' timeouts.

use std::sync::Arc;

use object_store::ClientOptions;
use object_store::client::{HttpClient, HttpConnector, HttpRequest, HttpRequestBody, ReqwestConnector};

use crate::policy::object::ObjectRoot;

/// What deleting a marker needs: the client, and how to address and sign a request.
pub(super) enum Markers {
    S3 { store: Arc<object_store::aws::AmazonS3>, base: String, region: String },
    Azure { store: Arc<object_store::azure::MicrosoftAzure>, base: String, account: String },
    Gcs { store: Arc<object_store::gcp::GoogleCloudStorage>, base: String },
}

/// Percent-encodes a key for a URL path, keeping `/`.
fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Markers {
    /// For S3: path-style at a custom endpoint, else the bucket's virtual host.
    pub(super) fn s3(store: Arc<object_store::aws::AmazonS3>, url: &ObjectRoot) -> Markers {
        Markers::S3 { store, base: super::client::s3_base(&url.bucket), region: super::client::s3_region() }
    }

    /// For Azure: the blob endpoint (the emulator's or the account's) and container.
    pub(super) fn azure(
        store: Arc<object_store::azure::MicrosoftAzure>,
        url: &ObjectRoot,
        account: String,
        endpoint: Option<String>,
    ) -> Markers {
        let ep = endpoint.unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
        Markers::Azure { store, base: format!("{}/{}", ep.trim_end_matches('/'), url.bucket), account }
    }

    /// For GCS: the JSON API, at the emulator when there is one.
    pub(super) fn gcs(
        store: Arc<object_store::gcp::GoogleCloudStorage>,
        url: &ObjectRoot,
        base: Option<String>,
    ) -> Markers {
        let base = base.unwrap_or_else(|| "https://storage.googleapis.com".into());
        Markers::Gcs { store, base: format!("{}/storage/v1/b/{}/o", base.trim_end_matches('/'), url.bucket) }
    }

    /// Deletes the marker object `key` (ending in `/`): whether there was one. Throttling
    /// and passing failures are retried with backoff, a bounded number of times.
    pub(super) async fn delete(&self, key: &str) -> Result<bool, String> {
        let mut backoff = super::retry::Backoff::listing();
        loop {
            match self.delete_once(key).await {
                Err((why, true)) => match backoff.next() {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(format!("{why} (gave up after {} retries)", backoff.attempts())),
                },
                Err((why, false)) => return Err(why),
                Ok(there) => return Ok(there),
            }
        }
    }

    /// One attempt: whether there was a marker, or why not and whether to try again.
    async fn delete_once(&self, key: &str) -> Result<bool, (String, bool)> {
        let once = |e: String| (e, false);
        let client = |http: bool| -> Result<HttpClient, String> {
            let options = ClientOptions::new()
                .with_allow_http(http)
                .with_connect_timeout(std::time::Duration::from_secs(5))
                .with_timeout(std::time::Duration::from_secs(60));
            ReqwestConnector::default().connect(&options).map_err(|e| e.to_string())
        };
        let request = |uri: String| -> Result<HttpRequest, String> {
            http::Request::builder()
                .method(http::Method::DELETE)
                .uri(uri)
                .body(HttpRequestBody::empty())
                .map_err(|e| e.to_string())
        };
        let (mut req, base) = match self {
            Markers::S3 { store, base, region } => {
                let mut req = request(format!("{base}/{}", encode(key))).map_err(once)?;
                let cred = store.credentials().get_credential().await.map_err(|e| once(e.to_string()))?;
                object_store::aws::AwsAuthorizer::new(&cred, "s3", region)
                    .try_authorize(&mut req, None)
                    .map_err(|e| once(e.to_string()))?;
                (req, base)
            }
            Markers::Azure { store, base, account } => {
                let mut req = request(format!("{base}/{}", encode(key))).map_err(once)?;
                let cred = store.credentials().get_credential().await.map_err(|e| once(e.to_string()))?;
                object_store::azure::AzureAuthorizer::new(&cred, account)
                    .try_authorize(&mut req)
                    .map_err(|e| once(e.to_string()))?;
                (req, base)
            }
            Markers::Gcs { store, base } => {
                let name: String = encode(key).replace('/', "%2F");
                let mut req = request(format!("{base}/{name}")).map_err(once)?;
                let cred = store.credentials().get_credential().await.map_err(|e| once(e.to_string()))?;
                if !cred.bearer.is_empty() {
                    let value = http::HeaderValue::from_str(&format!("Bearer {}", cred.bearer))
                        .map_err(|e| once(e.to_string()))?;
                    req.headers_mut().insert(http::header::AUTHORIZATION, value);
                }
                (req, base)
            }
        };
        req.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("0"));
        let response = match client(base.starts_with("http://")).map_err(once)?.execute(req).await {
            Ok(r) => r,
            Err(e) => {
                use object_store::client::HttpErrorKind as K;
                let again = matches!(e.kind(), K::Connect | K::Request | K::Timeout | K::Interrupted);
                return Err((format!("deleting the directory marker {key}: {e}"), again));
            }
        };
        let status = response.status();
        if status == http::StatusCode::NOT_FOUND {
            Ok(false)
        } else if status.is_success() {
            Ok(true)
        } else {
            let again = super::retry::retryable_status(status.as_u16());
            Err((format!("deleting the directory marker {key}: {status}"), again))
        }
    }
}
