//! Presigning cost: `Presigner::presign` for a GET and a PUT as `/presign` asks for them,
//! next to aws-sdk-s3's bare `presigned` call with the same client settings (what
//! `examples/ceiling.rs` does), so the difference is presignd's own work (credential
//! tracking, the signed audit id, reading the URL back for the true expiry).
//!
//! `cargo bench --bench presign`. Signing is offline: nothing is sent anywhere.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use criterion::{Criterion, criterion_group, criterion_main};
use presignd::config::S3Config;
use presignd::presign::{
    BucketName, ContentType, GetOptions, ObjectKey, Operation, PresignRequest, Presigner,
    PutOptions,
};
use uuid::Uuid;

const ENDPOINT: &str = "http://127.0.0.1:9000";
const REGION: &str = "us-east-1";

fn credentials() -> Credentials {
    Credentials::new(
        "AKIDBENCHEXAMPLE",
        "bench/only/secret/key/0123456789abcdefghij",
        None,
        None,
        "bench",
    )
}

fn presigner() -> Presigner {
    let s3 = S3Config {
        region: Some(REGION.into()),
        endpoint_url: Some(ENDPOINT.into()),
        force_path_style: true,
        default_expires_in: 900,
        max_expires_in: 604800,
        buckets: BTreeMap::new(),
    };
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials()))
        .build();
    Presigner::new(&s3, &sdk).unwrap()
}

fn request(operation: Operation) -> PresignRequest {
    PresignRequest {
        bucket: BucketName::parse("bench-data").unwrap(),
        key: ObjectKey::parse("users/user-0042/photos/img-0001.jpg").unwrap(),
        operation,
        expires_in: 900,
        audit_id: Uuid::now_v7(),
    }
}

fn presign(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let presigner = presigner();
    let get = request(Operation::Get(GetOptions {
        response_content_type: Some(ContentType::parse("image/jpeg").unwrap()),
        ..GetOptions::default()
    }));
    let put = request(Operation::Put(PutOptions {
        content_type: Some(ContentType::parse("image/jpeg").unwrap()),
        content_length: Some(1_048_576),
        ..PutOptions::default()
    }));

    let mut group = c.benchmark_group("presign");
    group.bench_function("presigner_get", |b| {
        b.iter(|| {
            runtime
                .block_on(presigner.presign(std::hint::black_box(&get)))
                .unwrap()
        })
    });
    group.bench_function("presigner_put", |b| {
        b.iter(|| {
            runtime
                .block_on(presigner.presign(std::hint::black_box(&put)))
                .unwrap()
        })
    });

    // The floor: the SDK alone, as examples/ceiling.rs calls it.
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(ENDPOINT)
            .force_path_style(true)
            .credentials_provider(credentials())
            .build(),
    );
    group.bench_function("sdk_get", |b| {
        b.iter(|| {
            runtime
                .block_on(
                    client
                        .get_object()
                        .bucket("bench-data")
                        .key("users/user-0042/photos/img-0001.jpg")
                        .presigned(PresigningConfig::expires_in(Duration::from_secs(900)).unwrap()),
                )
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, presign);
criterion_main!(benches);
