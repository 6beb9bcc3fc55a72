//! S3 uploads exactly as Label Studio's boto3 sends them (observed with Label Studio 1.23.2):
//! boto3's default flexible checksums are CRC32; over plain HTTP the checksum travels in the
//! `x-amz-checksum-crc32` header of a signed body; over HTTPS the body is `aws-chunked` (1 MiB
//! chunks, sent with HTTP chunked transfer) with `x-amz-content-sha256:
//! STREAMING-UNSIGNED-PAYLOAD-TRAILER` and the CRC32 in a trailer after the last chunk. Files
//! over 8 MiB go multipart (CreateMultipartUpload, 8 MiB parts, CompleteMultipartUpload).
use base64::Engine;
use bytes::Bytes;
use http::Method;
use object_store::client::HttpRequest;
use serde::Deserialize;

use super::{Unreachable, build, keys, s3::S3, sigv4};

/// boto3's `multipart_threshold` and `multipart_chunksize` (8 MiB).
pub const MULTIPART_CHUNK: u64 = 8 * 1024 * 1024;
/// The chunk size of botocore's `AwsChunkedWrapper` (1 MiB).
pub const AWS_CHUNK: usize = 1024 * 1024;

/// How boto3 sends a body to this endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Plain HTTP: signed body, `x-amz-checksum-crc32` header.
    ChecksumHeader,
    /// HTTPS: `aws-chunked` body, unsigned, trailing `x-amz-checksum-crc32`.
    AwsChunkedTrailer,
}

impl Transfer {
    /// For evidence and messages.
    pub fn describe(self) -> &'static str {
        match self {
            Transfer::ChecksumHeader => {
                "plain HTTP: signed body with an x-amz-checksum-crc32 header"
            }
            Transfer::AwsChunkedTrailer => {
                "HTTPS: aws-chunked body, x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER, \
                 trailing x-amz-checksum-crc32"
            }
        }
    }

    /// A short name for evidence.
    pub fn name(self) -> &'static str {
        match self {
            Transfer::ChecksumHeader => "checksum_header",
            Transfer::AwsChunkedTrailer => "aws_chunked_trailer",
        }
    }
}

/// A signed request and the body to send with it (possibly streamed).
pub struct Prepared {
    /// Method, URL and signed headers (its own body is unused).
    pub request: HttpRequest,
    /// What is sent.
    pub body: reqwest::Body,
}

/// The base64 of the big-endian CRC32 (the form of `x-amz-checksum-crc32`).
pub fn crc32_base64(crc: u32) -> String {
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// botocore's `AwsChunkedWrapper` framing of `body`: `hex(len)\r\n<data>\r\n` per chunk, then
/// `0\r\nx-amz-checksum-crc32:<b64>\r\n\r\n`. The data pieces share `body`'s memory.
pub fn aws_chunked(body: &Bytes, chunk: usize) -> Vec<Bytes> {
    let mut crc = crc32fast::Hasher::new();
    let mut pieces = Vec::with_capacity(body.len() / chunk.max(1) * 3 + 2);
    let mut at = 0;
    while at < body.len() {
        let end = (at + chunk).min(body.len());
        let data = body.slice(at..end);
        crc.update(&data);
        pieces.push(Bytes::from(format!("{:x}\r\n", data.len())));
        pieces.push(data);
        pieces.push(Bytes::from_static(b"\r\n"));
        at = end;
    }
    pieces.push(Bytes::from(format!(
        "0\r\nx-amz-checksum-crc32:{}\r\n\r\n",
        crc32_base64(crc.finalize())
    )));
    pieces
}

/// Whether a stored object looks like aws-chunked framing (what a server that mishandles the
/// trailer keeps): `hex\r\n` at the start and the trailer near the end.
pub fn looks_like_framing(start: &[u8], end: &[u8]) -> bool {
    let head_ok = start
        .iter()
        .position(|b| *b == b'\r')
        .is_some_and(|i| i > 0 && start[..i].iter().all(u8::is_ascii_hexdigit));
    let tail = String::from_utf8_lossy(end);
    head_ok && tail.contains("x-amz-checksum-crc32:")
}

impl S3 {
    /// How boto3 would send bodies to this endpoint: HTTPS means aws-chunked with a trailer.
    pub fn transfer(&self) -> Transfer {
        if self.object_url("").starts_with("https://") {
            Transfer::AwsChunkedTrailer
        } else {
            Transfer::ChecksumHeader
        }
    }

    /// A signed upload of `body` (PutObject or UploadPart) as boto3 sends it over `transfer`.
    pub async fn upload(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        transfer: Transfer,
    ) -> Result<Prepared, Unreachable> {
        let mut all: Vec<(&str, String)> = headers.to_vec();
        all.push(("x-amz-sdk-checksum-algorithm", "CRC32".into()));
        match transfer {
            Transfer::ChecksumHeader => {
                all.push(("x-amz-checksum-crc32", crc32_base64(crc32fast::hash(&body))));
                let mut request = build(method, url, &all, body.clone());
                self.sign(&mut request).await?;
                Ok(Prepared {
                    request,
                    body: reqwest::Body::from(body),
                })
            }
            Transfer::AwsChunkedTrailer => {
                all.push(("content-encoding", "aws-chunked".into()));
                all.push(("x-amz-decoded-content-length", body.len().to_string()));
                all.push(("x-amz-trailer", "x-amz-checksum-crc32".into()));
                let mut request = build(method, url, &all, Bytes::new());
                let credential = self.credential().await?;
                sigv4::sign_s3(
                    &mut request,
                    &credential,
                    &self.region(),
                    sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER,
                    chrono::Utc::now(),
                )
                .map_err(|e| Unreachable(format!("could not sign the request: {e}")))?;
                let pieces = aws_chunked(&body, AWS_CHUNK);
                // No Content-Length: sent with HTTP chunked transfer, as boto3 does.
                let stream = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
                Ok(Prepared {
                    request,
                    body: reqwest::Body::wrap_stream(stream),
                })
            }
        }
    }

    /// Signed CreateMultipartUpload (`POST key?uploads`) with the upload's content type, CRC32
    /// as checksum algorithm and the configured object parameters.
    pub async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<HttpRequest, Unreachable> {
        let mut headers = vec![
            ("content-type", content_type.to_string()),
            ("x-amz-checksum-algorithm", "CRC32".to_string()),
        ];
        headers.extend(self.put_headers().iter().cloned());
        let url = format!("{}?uploads", self.object_url(key));
        let mut request = build(Method::POST, &url, &headers, Bytes::new());
        self.sign(&mut request).await?;
        Ok(request)
    }

    /// The URL of one part.
    pub fn part_url(&self, key: &str, upload_id: &str, part: u32) -> String {
        format!(
            "{}?partNumber={part}&uploadId={}",
            self.object_url(key),
            keys::component(upload_id)
        )
    }

    /// Signed CompleteMultipartUpload.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<HttpRequest, Unreachable> {
        let url = format!(
            "{}?uploadId={}",
            self.object_url(key),
            keys::component(upload_id)
        );
        let mut request = build(Method::POST, &url, &[], Bytes::from(complete_body(parts)));
        self.sign(&mut request).await?;
        Ok(request)
    }

    /// Signed AbortMultipartUpload (`DELETE key?uploadId=`).
    pub async fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<HttpRequest, Unreachable> {
        let url = format!(
            "{}?uploadId={}",
            self.object_url(key),
            keys::component(upload_id)
        );
        let mut request = build(Method::DELETE, &url, &[], Bytes::new());
        self.sign(&mut request).await?;
        Ok(request)
    }

    /// Signed GET of an object with `x-amz-checksum-mode: ENABLED`, as Label Studio reads.
    pub async fn get_with_checksum(&self, key: &str) -> Result<HttpRequest, Unreachable> {
        let mut request = build(
            Method::GET,
            &self.object_url(key),
            &[("x-amz-checksum-mode", "ENABLED".into())],
            Bytes::new(),
        );
        self.sign(&mut request).await?;
        Ok(request)
    }
}

/// One uploaded part, for CompleteMultipartUpload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1-based part number.
    pub number: u32,
    /// The ETag the server answered.
    pub etag: String,
    /// The CRC32 the server echoed (`x-amz-checksum-crc32`); boto3 sends it back when it came.
    pub crc32: Option<String>,
}

/// The CompleteMultipartUpload body, parts in order, as boto3 serializes it.
pub fn complete_body(parts: &[CompletedPart]) -> String {
    let mut xml = String::from(
        r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    for p in parts {
        xml.push_str("<Part><ETag>");
        xml.push_str(&xml_escape(&p.etag));
        xml.push_str("</ETag>");
        if let Some(c) = &p.crc32 {
            xml.push_str("<ChecksumCRC32>");
            xml.push_str(&xml_escape(c));
            xml.push_str("</ChecksumCRC32>");
        }
        xml.push_str(&format!("<PartNumber>{}</PartNumber></Part>", p.number));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateMultipartUploadResult {
    upload_id: String,
}

/// The `UploadId` of a CreateMultipartUpload answer.
pub fn parse_upload_id(body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("answer is not UTF-8: {e}"))?;
    let r: InitiateMultipartUploadResult = quick_xml::de::from_str(text)
        .map_err(|e| format!("no UploadId in the CreateMultipartUpload answer: {e}"))?;
    if r.upload_id.is_empty() {
        return Err("the CreateMultipartUpload answer has an empty UploadId".into());
    }
    Ok(r.upload_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_botocores() {
        // 57 bytes sent become 99 bytes of framing: what s3rver over TLS stored.
        let body = Bytes::from(vec![b'x'; 57]);
        let pieces = aws_chunked(&body, AWS_CHUNK);
        let framed: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
        assert_eq!(framed.len(), 99);
        assert!(framed.starts_with(b"39\r\nxxx"));
        let crc = crc32_base64(crc32fast::hash(&body));
        assert!(framed.ends_with(format!("0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n").as_bytes()));
        assert!(looks_like_framing(
            &framed[..16],
            &framed[framed.len() - 40..]
        ));
        assert!(!looks_like_framing(&body[..16], &body[body.len() - 40..]));
        // Several chunks, the last one short.
        let big = Bytes::from(vec![1u8; 2 * 1024 + 5]);
        let pieces = aws_chunked(&big, 1024);
        assert_eq!(pieces.len(), 3 * 3 + 1);
        assert_eq!(&pieces[6][..], b"5\r\n");
        // An empty body is only the terminating chunk and trailer.
        assert_eq!(aws_chunked(&Bytes::new(), AWS_CHUNK).len(), 1);
    }

    #[test]
    fn crc32_is_big_endian_base64() {
        // The CRC32 check value of "123456789" is 0xCBF43926.
        assert_eq!(crc32_base64(crc32fast::hash(b"123456789")), "y/Q5Jg==");
        assert_eq!(crc32_base64(crc32fast::hash(b"")), "AAAAAA==");
    }

    #[test]
    fn complete_body_matches_boto3() {
        // Label Studio against s3rver: two parts, no checksum echoed, 271 bytes.
        let parts = [
            CompletedPart {
                number: 1,
                etag: "\"7ce66145f6164b7e6a7b85df8fe11726\"".into(),
                crc32: None,
            },
            CompletedPart {
                number: 2,
                etag: "\"23ff18a5370d00237c54d9598b6f916d\"".into(),
                crc32: None,
            },
        ];
        assert_eq!(
            complete_body(&parts).len(),
            271,
            "{}",
            complete_body(&parts)
        );
        let with_crc = complete_body(&[CompletedPart {
            number: 1,
            etag: "e".into(),
            crc32: Some("mMKE/w==".into()),
        }]);
        assert!(with_crc.contains("<ChecksumCRC32>mMKE/w==</ChecksumCRC32><PartNumber>1"));
    }

    #[test]
    fn reads_the_upload_id() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>a27f296a</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(parse_upload_id(xml.as_bytes()).unwrap(), "a27f296a");
        assert!(parse_upload_id(b"<Error/>").is_err());
    }
}
