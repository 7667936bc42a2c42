//! Tokens, roles and unit scopes enforced by the real services (DOMAIN.md §1 clients,
//! SECURITY.md): a center pushes only for its units, readers see only their subtree, only
//! admins change the catalog, and a missing or wrong token is UNAUTHENTICATED.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need the allowance).
#![allow(clippy::unwrap_used)]

mod support;

use dunghan::config::Role;
use dunghan::proto::v1 as pb;
use pb::catalog_service_client::CatalogServiceClient;
use pb::ingest_service_client::IngestServiceClient;
use pb::query_service_client::QueryServiceClient;
use support::*;
use tonic::Code;

#[tokio::test]
async fn roles_and_unit_scopes_are_enforced_on_every_service() {
    let (admin, admin_config) = token("admin", Role::Admin, &[]);
    let (center, center_config) = token("center", Role::Ingest, &["ttphvhcc"]);
    let (reader, reader_config) = token("reader-xd", Role::Read, &["so-xd"]);
    let server = TestServer::start_with("2025-04-30 12:00", |config| {
        config.tokens = vec![admin_config, center_config, reader_config];
    })
    .await;
    let channel = server.raw_channel().await;
    let catalog = |t: &str| CatalogServiceClient::with_interceptor(channel.clone(), bearer(t));
    let ingest = |t: &str| IngestServiceClient::with_interceptor(channel.clone(), bearer(t));
    let query = |t: &str| QueryServiceClient::with_interceptor(channel.clone(), bearer(t));
    let document = std::fs::read_to_string("examples/catalog.toml").unwrap();
    let load = pb::LoadCatalogRequest {
        document,
        format: pb::CatalogFormat::Toml as i32,
        document_name: String::new(),
        dry_run: false,
    };

    // No token, or a wrong one: unauthenticated.
    let err = IngestServiceClient::new(channel.clone())
        .ingest_batch(pb::IngestBatchRequest {
            events: Vec::new(),
            backfill: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = ingest("dh_wrong")
        .ingest_batch(pb::IngestBatchRequest {
            events: Vec::new(),
            backfill: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(
        !err.message().contains("dh_wrong"),
        "a token never appears: {}",
        err.message()
    );

    // Only admin changes the catalog.
    let err = catalog(&center)
        .load_catalog(load.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        catalog(&admin)
            .load_catalog(load)
            .await
            .unwrap()
            .into_inner()
            .applied
    );

    // The center pushes for its own unit; another unit's file is out of scope.
    let events = vec![
        event(
            "S-1",
            "OWN",
            "2025-04-28 08:00",
            received("1.009972", "ttphvhcc", "cb-mot-cua-1"),
        ),
        event(
            "S-2",
            "OTHER",
            "2025-04-28 08:00",
            received("1.009972", "so-xd", "giam-doc-xd"),
        ),
        event("S-3", "OWN", "2025-04-28 09:00", resolved()),
        event("S-4", "UNSEEN", "2025-04-28 09:00", resolved()),
    ];
    let response = ingest(&center)
        .ingest_batch(pb::IngestBatchRequest {
            events,
            backfill: false,
        })
        .await
        .unwrap()
        .into_inner();
    use pb::EventOutcome::{Accepted, Rejected};
    assert_eq!(
        outcomes(&response),
        [Accepted, Rejected, Accepted, Rejected]
    );
    let rejection = response.results[1].rejection.as_ref().unwrap();
    assert_eq!(rejection.reason, pb::RejectionReason::OutOfScope as i32);
    assert!(rejection.message.contains("so-xd"), "{}", rejection.message);

    // Only an admin may backfill history (it bypasses the backdating check).
    let err = ingest(&center)
        .ingest_batch(pb::IngestBatchRequest {
            events: Vec::new(),
            backfill: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // A reader cannot push, and sees only its subtree.
    let err = ingest(&reader)
        .ingest_batch(pb::IngestBatchRequest {
            events: Vec::new(),
            backfill: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let get = |file: &str| pb::GetFileRequest {
        file_id: file.to_owned(),
        as_of: None,
    };
    let err = query(&reader).get_file(get("OWN")).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "a file outside the subtree is not revealed"
    );
    assert!(query(&admin).get_file(get("OWN")).await.is_ok());
    server.stop().await;
}
