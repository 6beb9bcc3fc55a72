//! Run safety against real emulators: whatever was in the bucket before a run is byte-identical
//! after it, inside and outside the folder, and nothing is left under the run prefix.
mod support;

use bytes::Bytes;
use lsprobe::config::TargetOptions;
use lsprobe::config::resolve;
use lsprobe::emulators::{Kind, S3User};
use lsprobe::provider::{Listed, Op, Storage};
use proptest::prelude::*;

/// The storage of an emulator, configured by its env.list, with an optional folder flag.
fn storage(kind: Kind, folder: Option<&str>) -> Option<Storage> {
    let env = support::env_file(kind, S3User::Full)?;
    let args = TargetOptions {
        env_file: Some(env),
        folder: folder.map(str::to_string),
        ..Default::default()
    };
    Some(Storage::new(&resolve(&args, &[]).unwrap().target).unwrap())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn list_all(storage: &Storage, prefix: &str) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut page = None;
    loop {
        let op = Op::List {
            prefix: prefix.to_string(),
            limit: 1000,
            page: page.take(),
        };
        let answer = storage.send(&op).await.unwrap();
        assert!(
            answer.status.is_success(),
            "list {prefix}: {}",
            answer.status
        );
        let listing = storage.parse_listing(&answer).unwrap();
        out.extend(listing.objects);
        match listing.next_page {
            Some(p) => page = Some(p),
            None => return out,
        }
    }
}

fn folder_strategy() -> impl Strategy<Value = (String, String)> {
    // (folder as configured, folder as Label Studio uses it). No leading slash: Label Studio's
    // S3 storage refuses one (so does lsprobe, see config::as_label_studio).
    (
        "[a-z]{1,4}( [a-zü]{1,3})?(/[a-zñ]([a-zñ ]{0,3}[a-zñ])?){0,2}",
        any::<bool>(),
    )
        .prop_map(|(body, trail)| {
            let unique = format!(
                "safety-{}/{body}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            let configured = format!("{unique}{}", if trail { "/" } else { "" });
            (configured, unique)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn pre_existing_objects_are_untouched_and_nothing_is_left(
        (configured, folder) in folder_strategy(),
        // Segments do not start or end with a space: s3rver 3.7.1 answers 500 to listings that
        // hold such keys (an emulator bug lsprobe reports as an error, not what this tests).
        names in proptest::collection::vec(
            "[a-zA-Z0-9ü._-]([a-zA-Z0-9ü ñ._-]{0,10}[a-zA-Z0-9ñ_-])?(/[a-z]([a-z ]{0,4}[a-z])?){0,2}",
            1..5,
        ),
        azure in any::<bool>(),
    ) {
        let kind = if azure { Kind::Azure } else { Kind::S3 };
        let Some(direct) = storage(kind, None) else { return Ok(()) };
        // Inside the folder, in a sibling that shares its name as a prefix, outside it, and
        // under another (pretend) lsprobe run in the folder.
        let mut keys = Vec::new();
        for (i, name) in names.iter().enumerate() {
            keys.push(format!("{folder}/{name}"));
            keys.push(format!("{folder}x/{i}/{name}"));
            keys.push(format!("elsewhere-{}/{name}", &folder.replace('/', "_")));
        }
        keys.push(format!("{folder}/.lsprobe/someone-elses-run/object"));
        keys.sort();
        keys.dedup();
        let originals: Vec<(String, Bytes)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), Bytes::from(format!("original {i} of {k}").repeat(i + 1))))
            .collect();
        block_on(async {
            for (key, body) in &originals {
                let op = Op::Put { key: key.clone(), body: body.clone(), content_type: "text/plain".into() };
                let answer = direct.send(&op).await.unwrap();
                assert!(answer.status.is_success(), "seeding {key}: {}", answer.status);
            }
        });

        let env = support::env_file(kind, S3User::Full).unwrap();
        let run = support::check::check(&env, &["--folder", &configured]);
        prop_assert_eq!(run.code, 0, "{:?}\n{}\n{}", run.statuses(), run.check("permissions.list"), run.stderr);
        prop_assert_eq!(run.report["target"]["folder"].as_str().unwrap(), folder.as_str());

        block_on(async {
            for (key, body) in &originals {
                let answer = direct.send(&Op::Get { key: key.clone() }).await.unwrap();
                assert!(answer.status.is_success(), "{key} is gone after the run");
                assert_eq!(&answer.body, body, "{key} changed");
            }
            let left: Vec<String> = list_all(&direct, &format!("{folder}/.lsprobe/"))
                .await
                .into_iter()
                .map(|o| o.key)
                .collect();
            assert_eq!(left, vec![format!("{folder}/.lsprobe/someone-elses-run/object")], "left behind");
            for (key, _) in &originals {
                let _ = direct.send(&Op::Delete { key: key.clone() }).await;
            }
        });
    }
}
