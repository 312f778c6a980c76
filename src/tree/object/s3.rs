//! S3's `ListObjectsV2`, asked and read by sweep itself rather than through
//! `object_store`'s listing, which turns every key into a path first: one key with a
//! `..` or an empty segment then fails the whole page, and `KEY/` becomes `KEY`. Here
//! keys arrive exactly as S3 stores them (URL-encoded on the wire, so that no key can
//! break the XML), and the walk decides what it trusts ([`super::names`]).
//!
//! The request is signed with `object_store`'s own SigV4 authorizer and credentials and
//! sent through its HTTP client; throttling (`503 SlowDown`) and passing failures are
//! retried with backoff, a bounded number of times ([`super::retry`]).

use std::sync::Arc;
use std::time::Duration;

use object_store::ClientOptions;
use object_store::client::{HttpClient, HttpConnector, HttpRequest, HttpRequestBody, ReqwestConnector};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;

use super::page::{ListError, Listed, RawPage};
use super::retry::{Backoff, retryable_status};

/// What a query value may hold unencoded (RFC 3986's unreserved characters).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A bucket's listing client: where the bucket is, how to sign, and the HTTP client.
pub(super) struct S3Lister {
    store: Arc<object_store::aws::AmazonS3>,
    /// `https://bucket.s3.region.amazonaws.com`, or `ENDPOINT/bucket` (path-style).
    base: String,
    region: String,
    http: HttpClient,
}

impl std::fmt::Debug for S3Lister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Lister({})", self.base)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    common_prefixes: Vec<CommonPrefix>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
    encoding_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    size: u64,
    last_modified: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CommonPrefix {
    prefix: String,
}

/// S3's error document.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDoc {
    code: Option<String>,
    message: Option<String>,
}

/// A URL-encoded key (`encoding-type=url`): `+` is a space, `%XX` a byte. A key whose
/// bytes are not UTF-8 keeps the replacement characters and is flagged.
fn decode(s: &str) -> (String, bool) {
    let plus = s.replace('+', " ");
    let bytes: Vec<u8> = percent_decode_str(&plus).collect();
    match String::from_utf8(bytes) {
        Ok(k) => (k, false),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    }
}

impl S3Lister {
    /// A lister for the bucket `store` serves, at `base`, signing for `region`.
    pub(super) fn new(
        store: Arc<object_store::aws::AmazonS3>,
        base: String,
        region: String,
        allow_http: bool,
    ) -> Result<S3Lister, String> {
        let options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        let http = ReqwestConnector::default().connect(&options).map_err(|e| e.to_string())?;
        Ok(S3Lister { store, base, region, http })
    }

    /// One page of the listing of `prefix` (with the delimiter `/` when `delimiter`),
    /// after `token`.
    pub(super) async fn page(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<&str>,
        max_keys: Option<usize>,
    ) -> Result<RawPage, ListError> {
        let mut query = format!("list-type=2&encoding-type=url&prefix={}", utf8_percent_encode(prefix, QUERY));
        if delimiter {
            query.push_str("&delimiter=%2F");
        }
        if let Some(n) = max_keys {
            query.push_str(&format!("&max-keys={n}"));
        }
        if let Some(t) = token {
            query.push_str(&format!("&continuation-token={}", utf8_percent_encode(t, QUERY)));
        }
        let url = format!("{}?{query}", self.base);
        let mut backoff = Backoff::listing();
        loop {
            let failure = match self.send(&url).await {
                Ok(body) => return parse(&body),
                Err(f) => f,
            };
            match (failure.retry, backoff.next()) {
                (true, Some(wait)) => tokio::time::sleep(wait).await,
                (true, None) => {
                    let n = backoff.attempts();
                    return Err(ListError::fatal(format!("{} (gave up after {n} retries)", failure.message)));
                }
                (false, _) => return Err(ListError::fatal(failure.message)),
            }
        }
    }

    /// Sends one signed GET: the body, or why not and whether to try again.
    async fn send(&self, url: &str) -> Result<Vec<u8>, Failure> {
        let fail = |message: String| Failure { message, retry: false };
        let mut req: HttpRequest = http::Request::builder()
            .method(http::Method::GET)
            .uri(url)
            .body(HttpRequestBody::empty())
            .map_err(|e| fail(e.to_string()))?;
        let cred = self.store.credentials().get_credential().await.map_err(|e| fail(e.to_string()))?;
        object_store::aws::AwsAuthorizer::new(&cred, "s3", &self.region)
            .try_authorize(&mut req, None)
            .map_err(|e| fail(e.to_string()))?;
        let response = match self.http.execute(req).await {
            Ok(r) => r,
            Err(e) => {
                use object_store::client::HttpErrorKind as K;
                let retry = matches!(e.kind(), K::Connect | K::Request | K::Timeout | K::Interrupted);
                return Err(Failure { message: format!("listing: {e}"), retry });
            }
        };
        let status = response.status();
        let body = response.into_body().bytes().await;
        let body = match body {
            Ok(b) => b,
            Err(e) => return Err(Failure { message: format!("listing: reading the answer: {e}"), retry: true }),
        };
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let text = String::from_utf8_lossy(&body);
        let doc: Option<ErrorDoc> = quick_xml::de::from_str(&text).ok();
        let code = doc.as_ref().and_then(|d| d.code.clone()).unwrap_or_default();
        let message = doc.as_ref().and_then(|d| d.message.clone()).unwrap_or_default();
        let retry = retryable_status(status.as_u16()) || code == "SlowDown" || code == "InternalError";
        let what = [code.as_str(), message.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>();
        Err(Failure { message: format!("listing: {status}: {}", what.join(": ")), retry })
    }
}

/// A request that failed: the message, and whether it may be sent again.
struct Failure {
    message: String,
    retry: bool,
}

/// Reads a `ListBucketResult`.
fn parse(body: &[u8]) -> Result<RawPage, ListError> {
    let text = std::str::from_utf8(body).map_err(|_| ListError::fatal("listing: the answer is not UTF-8".into()))?;
    let doc: ListBucketResult = quick_xml::de::from_str(text)
        .map_err(|e| ListError::fatal(format!("listing: the answer is not a ListBucketResult: {e}")))?;
    let encoded = doc.encoding_type.as_deref() == Some("url");
    let key = |k: &str| if encoded { decode(k) } else { (k.to_string(), false) };
    let mut objects = Vec::with_capacity(doc.contents.len());
    for c in doc.contents {
        let (k, bad) = key(&c.key);
        let mtime = chrono::DateTime::parse_from_rfc3339(&c.last_modified).map_err(|_| {
            ListError::fatal(format!("listing: key {k}: unreadable LastModified `{}`", c.last_modified))
        })?;
        objects.push(Listed { key: k, size: c.size, mtime: mtime.timestamp(), bad });
    }
    let prefixes = doc.common_prefixes.iter().map(|p| key(&p.prefix)).collect();
    let token = match (doc.is_truncated, doc.next_continuation_token) {
        (true, Some(t)) => Some(t),
        (true, None) => {
            return Err(ListError::fatal("listing: a truncated page without a continuation token".into()));
        }
        (false, _) => None,
    };
    Ok(RawPage { objects, prefixes, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_exactly() {
        assert_eq!(decode("a%2F..%2Fb+c%2B"), ("a/../b c+".to_string(), false));
        assert!(decode("x%FF").1);
    }

    #[test]
    fn a_page_is_read_with_its_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p%2F</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>%2F</Delimiter><IsTruncated>true</IsTruncated>
<EncodingType>url</EncodingType><NextContinuationToken>tok/en==</NextContinuationToken>
<Contents><Key>p%2Fa%2F</Key><LastModified>2024-07-01T00:00:00.000Z</LastModified><ETag>"x"</ETag><Size>3</Size></Contents>
<CommonPrefixes><Prefix>p%2F..%2F</Prefix></CommonPrefixes></ListBucketResult>"#;
        let page = parse(xml.as_bytes()).unwrap();
        assert_eq!(page.objects[0].key, "p/a/");
        assert_eq!(page.objects[0].mtime, 1719792000);
        assert_eq!(page.prefixes, vec![("p/../".to_string(), false)]);
        assert_eq!(page.token.as_deref(), Some("tok/en=="));
        let truncated = xml.replace("<NextContinuationToken>tok/en==</NextContinuationToken>", "");
        assert!(parse(truncated.as_bytes()).is_err());
    }
}
