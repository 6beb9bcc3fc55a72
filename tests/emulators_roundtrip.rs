//! A put / get / list / delete round trip through object_store on each emulator, as started by
//! the shared test support (the same code as `lsprobe emulators up`).
mod support;

use bytes::Bytes;
use futures::TryStreamExt;
use lsprobe::emulators::{AZURE_ACCOUNT, AZURE_KEY, BUCKET, Emulators, Kind, S3RVER_KEY, S3User};
use object_store::aws::{AmazonS3Builder, AwsAuthorizer, AwsCredential};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

const BODY: &[u8] = b"lsprobe round trip \xe2\x9c\x93";

/// put, get, list under the key's prefix; returns the key for the caller's delete.
async fn put_get_list(store: &dyn ObjectStore, key: &Path) {
    store
        .put(key, Bytes::from_static(BODY).into())
        .await
        .expect("put");
    let got = store
        .get(key)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("get body");
    assert_eq!(&got[..], BODY);
    let prefix = Path::parse(key.as_ref().rsplit_once('/').unwrap().0).unwrap();
    let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].location, *key, "the key keeps its space and ü");
    assert_eq!(listed[0].size, BODY.len() as u64);
}

async fn delete_and_confirm(store: &dyn ObjectStore, key: &Path) {
    store.delete(key).await.expect("delete");
    assert_gone(store, key).await;
}

async fn assert_gone(store: &dyn ObjectStore, key: &Path) {
    match store.head(key).await {
        Err(object_store::Error::NotFound { .. }) => {}
        other => panic!("{key} should be gone, head gave {other:?}"),
    }
}

fn s3_store(emu: &Emulators, kind: Kind, id: &str, secret: &str) -> object_store::aws::AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(emu.endpoint(kind).unwrap())
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region("us-east-1")
        .with_bucket_name(BUCKET)
        .with_access_key_id(id)
        .with_secret_access_key(secret)
        .build()
        .expect("S3 store")
}

#[tokio::test]
async fn s3rver_round_trip() {
    let Some(emu) = support::emulators() else {
        return;
    };
    let store = s3_store(emu, Kind::S3, S3RVER_KEY, S3RVER_KEY);
    let key = support::object_path("s3rver");
    put_get_list(&store, &key).await;
    delete_and_confirm(&store, &key).await;
}

/// Label Studio deletes with a single DELETE, which moto judges like AWS (object_store's
/// `delete` sends DeleteObjects, which moto denies under IAM enforcement).
async fn single_delete(endpoint: &str, key: &Path, id: &str, secret: &str) -> u16 {
    let credential = AwsCredential {
        key_id: id.to_string(),
        secret_key: secret.to_string(),
        token: None,
    };
    let encoded: String = key
        .as_ref()
        .split('/')
        .map(|s| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        })
        .collect::<Vec<_>>()
        .join("/");
    let url = format!("{endpoint}/{BUCKET}/{encoded}");
    let mut request = http::Request::builder()
        .method("DELETE")
        .uri(&url)
        .body(object_store::client::HttpRequestBody::from(Vec::<u8>::new()))
        .unwrap();
    request.headers_mut().insert(
        "host",
        url::Url::parse(&url).unwrap().authority().parse().unwrap(),
    );
    AwsAuthorizer::new(&credential, "s3", "us-east-1")
        .try_authorize(&mut request, None)
        .expect("sign");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut send = client.delete(&url);
    for (name, value) in request.headers() {
        send = send.header(name.as_str(), value.as_bytes());
    }
    send.send().await.expect("DELETE").status().as_u16()
}

#[tokio::test]
async fn moto_iam_round_trip_for_the_full_user() {
    let Some(emu) = support::emulators() else {
        return;
    };
    let keys = &emu.get(Kind::S3Iam).unwrap().users["full"];
    let store = s3_store(
        emu,
        Kind::S3Iam,
        &keys.access_key_id,
        &keys.secret_access_key,
    );
    let key = support::object_path("moto");
    put_get_list(&store, &key).await;
    let endpoint = emu.endpoint(Kind::S3Iam).unwrap();
    let status = single_delete(
        &endpoint,
        &key,
        &keys.access_key_id,
        &keys.secret_access_key,
    )
    .await;
    assert_eq!(status, 204, "single DELETE by the full user");
    assert_gone(&store, &key).await;
}

#[tokio::test]
async fn moto_iam_denies_what_a_limited_user_lacks() {
    let Some(emu) = support::emulators() else {
        return;
    };
    let full = &emu.get(Kind::S3Iam).unwrap().users["full"];
    let full_store = s3_store(
        emu,
        Kind::S3Iam,
        &full.access_key_id,
        &full.secret_access_key,
    );
    let key = support::object_path("denied");
    full_store
        .put(&key, Bytes::from_static(BODY).into())
        .await
        .expect("put as full");
    let user = |u: S3User| {
        let k = &emu.get(Kind::S3Iam).unwrap().users[u.name()];
        s3_store(emu, Kind::S3Iam, &k.access_key_id, &k.secret_access_key)
    };
    // object_store maps a denied list to Generic: look for the cloud's own code too.
    let denied = |r: object_store::Result<()>| match r {
        Err(object_store::Error::PermissionDenied { .. }) => true,
        Err(e) => format!("{e:?}").contains("AccessDenied"),
        Ok(()) => false,
    };
    assert!(denied(
        user(S3User::NoPut)
            .put(&key, Bytes::from_static(BODY).into())
            .await
            .map(|_| ())
    ));
    assert!(denied(user(S3User::NoGet).get(&key).await.map(|_| ())));
    let listed: object_store::Result<Vec<_>> = user(S3User::NoList).list(None).try_collect().await;
    assert!(denied(listed.map(|_| ())), "no-list could list");
    let no_delete = &emu.get(Kind::S3Iam).unwrap().users["no-delete"];
    let endpoint = emu.endpoint(Kind::S3Iam).unwrap();
    let status = single_delete(
        &endpoint,
        &key,
        &no_delete.access_key_id,
        &no_delete.secret_access_key,
    )
    .await;
    assert_eq!(status, 403, "no-delete must be denied");
    let env = emu.env_list(Kind::S3Iam, S3User::NoGet).unwrap();
    assert!(
        env.contains(&(
            "STORAGE_AWS_ACCESS_KEY_ID".into(),
            emu.get(Kind::S3Iam).unwrap().users["no-get"]
                .access_key_id
                .clone()
        ))
    );
    assert_eq!(
        single_delete(
            &endpoint,
            &key,
            &full.access_key_id,
            &full.secret_access_key
        )
        .await,
        204
    );
}

#[tokio::test]
async fn azurite_round_trip() {
    let Some(emu) = support::emulators() else {
        return;
    };
    let endpoint = format!("{}/{AZURE_ACCOUNT}", emu.endpoint(Kind::Azure).unwrap());
    let store = MicrosoftAzureBuilder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_account(AZURE_ACCOUNT)
        .with_access_key(AZURE_KEY)
        .with_container_name(BUCKET)
        .build()
        .expect("Azure store");
    let key = support::object_path("azurite");
    put_get_list(&store, &key).await;
    delete_and_confirm(&store, &key).await;
}

#[tokio::test]
async fn fake_gcs_round_trip() {
    let Some(emu) = support::emulators() else {
        return;
    };
    let endpoint = emu.endpoint(Kind::Gcs).unwrap();
    let key = support::object_path("gcs");
    // Upload through the JSON API (what Label Studio's client uses; no XML PUT in the emulator).
    let name = url::form_urlencoded::byte_serialize(key.as_ref().as_bytes()).collect::<String>();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .post(format!(
            "{endpoint}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}"
        ))
        .header("Content-Type", "text/plain")
        .body(BODY)
        .send()
        .await
        .expect("upload");
    assert!(r.status().is_success(), "upload: {}", r.status());
    let store = GoogleCloudStorageBuilder::new()
        .with_service_account_path(emu.gcs_credentials_path().to_string_lossy())
        .with_bucket_name(BUCKET)
        .build()
        .expect("GCS store");
    let got = store.get(&key).await.expect("get").bytes().await.unwrap();
    assert_eq!(&got[..], BODY);
    let prefix = Path::parse(key.as_ref().rsplit_once('/').unwrap().0).unwrap();
    let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].location, key);
    delete_and_confirm(&store, &key).await;
}

#[test]
fn env_file_is_written_for_every_emulator() {
    for kind in Kind::ALL {
        let Some(path) = support::env_file(kind, S3User::Full) else {
            return;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!(
            "STORAGE_TYPE={}",
            if kind == Kind::S3Iam {
                "s3"
            } else {
                kind.name()
            }
        )));
        assert!(text.contains("127.0.0.1:"), "{text}");
    }
}
