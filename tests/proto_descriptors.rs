//! Checks the compiled proto descriptors: the services and rpcs exist, every
//! element carries a leading comment (STYLE.md section 7, as a test), enums
//! follow the naming rule, storage never imports the wire API, and an event
//! survives a prost round trip.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message as _;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    ServiceDescriptorProto,
};

use dunghan::proto::{storage, v1, FILE_DESCRIPTOR_SET, STORAGE_FILE_DESCRIPTOR_SET};

// Field numbers of descriptor.proto, which make up source-code-info paths.
const FILE_MESSAGE_TYPE: i32 = 4;
const FILE_ENUM_TYPE: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED_TYPE: i32 = 3;
const MESSAGE_ENUM_TYPE: i32 = 4;
const MESSAGE_ONEOF_DECL: i32 = 8;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

#[test]
fn descriptor_set_declares_every_service_and_rpc() {
    let expected: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("dunghan.v1.IngestService", &["Ingest", "IngestBatch"][..]),
        (
            "dunghan.v1.CatalogService",
            &[
                "UpsertProcedure",
                "GetProcedure",
                "ListProcedures",
                "UpsertUnit",
                "GetUnit",
                "ListUnits",
                "UpsertOfficer",
                "GetOfficer",
                "ListOfficers",
                "UpsertCalendar",
                "GetCalendar",
                "ListCalendars",
                "LoadCatalog",
                "GetCalendarYear",
                "ComputeDueTime",
            ][..],
        ),
        (
            "dunghan.v1.QueryService",
            &[
                "GetFile",
                "ListFiles",
                "GetStats",
                "GetLeaderboard",
                "GetReport",
                "GetIndex",
                "PreviewRejudge",
                "Rejudge",
            ][..],
        ),
        ("dunghan.v1.AlertService", &["Tail", "ListAlerts"][..]),
    ]);

    let set = descriptor_set();
    let services = services_by_name(&set);
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    let expected_names: BTreeSet<&str> = expected.keys().copied().collect();
    assert_eq!(names, expected_names, "services in the descriptor set");

    for (service_name, rpcs) in expected {
        let service = &services[service_name];
        let actual: BTreeSet<&str> = service.method.iter().map(|method| method.name()).collect();
        let wanted: BTreeSet<&str> = rpcs.iter().copied().collect();
        assert_eq!(actual, wanted, "rpcs of {service_name}");
    }
}

#[test]
fn reflection_serves_the_wire_api_only() {
    let set = wire_descriptor_set();
    for file in &set.file {
        assert!(
            !file.package().starts_with("dunghan.storage."),
            "{} is a storage record and must not be served",
            file.name()
        );
    }
    let names: BTreeSet<&str> = set.file.iter().map(|file| file.name()).collect();
    for file in &set.file {
        for dependency in &file.dependency {
            assert!(
                names.contains(dependency.as_str()),
                "{} imports {dependency}, which reflection could not resolve",
                file.name()
            );
        }
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1();
    assert!(reflection.is_ok(), "reflection rejects the descriptor set");
}

#[test]
fn event_kinds_follow_the_domain_vocabulary() {
    // DOMAIN.md section 5.1, plus the pause events for expert councils and
    // site visits, in field-number order.
    let expected = [
        "submitted",
        "received",
        "not_accepted",
        "handed_over",
        "supplement_requested",
        "supplement_received",
        "financial_obligation_requested",
        "financial_obligation_fulfilled",
        "consultation_requested",
        "consultation_answered",
        "pause_started",
        "pause_ended",
        "extended",
        "withdrawn",
        "stopped",
        "rejected",
        "resolved",
        "returned",
    ];
    let set = descriptor_set();
    for package in ["dunghan.v1", "dunghan.storage.v1"] {
        let event = set
            .file
            .iter()
            .filter(|file| file.package() == package)
            .flat_map(|file| &file.message_type)
            .find(|message| message.name() == "Event")
            .unwrap_or_else(|| panic!("{package} has no Event message"));
        let kind_idx = event
            .oneof_decl
            .iter()
            .position(|oneof| oneof.name() == "kind")
            .map(index)
            .expect("Event has a oneof kind");
        let mut kinds: Vec<(i32, &str)> = event
            .field
            .iter()
            .filter(|field| field.oneof_index == Some(kind_idx))
            .map(|field| (field.number(), field.name()))
            .collect();
        kinds.sort_unstable();
        let names: Vec<&str> = kinds.iter().map(|(_, name)| *name).collect();
        assert_eq!(names, expected, "kinds of {package}.Event");
    }
}

#[test]
fn stream_rpcs_have_the_documented_shape() {
    let set = descriptor_set();
    let services = services_by_name(&set);
    let ingest = find_method(services["dunghan.v1.IngestService"], "Ingest");
    assert!(
        ingest.client_streaming(),
        "Ingest takes a stream of requests"
    );
    assert!(ingest.server_streaming(), "Ingest returns a stream of acks");
    let tail = find_method(services["dunghan.v1.AlertService"], "Tail");
    assert!(!tail.client_streaming(), "Tail takes one request");
    assert!(tail.server_streaming(), "Tail returns a stream of alerts");
    for (service_name, service) in &services {
        for method in &service.method {
            if (service_name.as_str(), method.name()) == ("dunghan.v1.IngestService", "Ingest")
                || (service_name.as_str(), method.name()) == ("dunghan.v1.AlertService", "Tail")
            {
                continue;
            }
            assert!(
                !method.client_streaming() && !method.server_streaming(),
                "{service_name}.{} is unary",
                method.name()
            );
        }
    }
}

#[test]
fn every_element_has_a_leading_comment() {
    let mut missing = Vec::new();
    for file in own_files(&descriptor_set()) {
        let comments = leading_comments(file);
        let mut check = |path: &[i32], what: String| {
            let documented = comments
                .get(path)
                .is_some_and(|comment| !comment.trim().is_empty());
            if !documented {
                missing.push(format!("{}: {what}", file.name()));
            }
        };
        for (message_idx, message) in file.message_type.iter().enumerate() {
            let path = vec![FILE_MESSAGE_TYPE, index(message_idx)];
            let name = format!("{}.{}", file.package(), message.name());
            check_message(message, &path, &name, &mut check);
        }
        for (enum_idx, enumeration) in file.enum_type.iter().enumerate() {
            let path = vec![FILE_ENUM_TYPE, index(enum_idx)];
            let name = format!("{}.{}", file.package(), enumeration.name());
            check_enum(enumeration, &path, &name, &mut check);
        }
        for (service_idx, service) in file.service.iter().enumerate() {
            let path = vec![FILE_SERVICE, index(service_idx)];
            check(&path, format!("service {}", service.name()));
            for (method_idx, method) in service.method.iter().enumerate() {
                let method_path = child(&path, SERVICE_METHOD, method_idx);
                check(
                    &method_path,
                    format!("rpc {}.{}", service.name(), method.name()),
                );
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} elements have no leading comment:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn every_enum_starts_unspecified_and_prefixes_its_values() {
    let mut problems = Vec::new();
    for file in own_files(&descriptor_set()) {
        let mut enums: Vec<&EnumDescriptorProto> = file.enum_type.iter().collect();
        let mut messages: Vec<&DescriptorProto> = file.message_type.iter().collect();
        while let Some(message) = messages.pop() {
            enums.extend(&message.enum_type);
            messages.extend(&message.nested_type);
        }
        for enumeration in enums {
            let prefix = format!("{}_", upper_snake(enumeration.name()));
            let zero = enumeration.value.iter().find(|value| value.number() == 0);
            let expected_zero = format!("{prefix}UNSPECIFIED");
            if zero.map(|value| value.name()) != Some(expected_zero.as_str()) {
                problems.push(format!(
                    "{}: zero value of {} must be {expected_zero}",
                    file.name(),
                    enumeration.name()
                ));
            }
            for value in &enumeration.value {
                if !value.name().starts_with(&prefix) {
                    problems.push(format!(
                        "{}: {}.{} lacks the prefix {prefix}",
                        file.name(),
                        enumeration.name(),
                        value.name()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn storage_never_imports_the_wire_api() {
    for file in own_files(&descriptor_set()) {
        if !file.package().starts_with("dunghan.storage.") {
            continue;
        }
        for dependency in &file.dependency {
            assert!(
                !dependency.starts_with("dunghan/v1/"),
                "{} imports {dependency}; storage must own its messages",
                file.name()
            );
        }
    }
}

#[test]
fn proto_directories_mirror_packages() {
    for file in own_files(&descriptor_set()) {
        let directory = file.name().rsplit_once('/').map_or("", |(dir, _)| dir);
        assert_eq!(
            directory.replace('/', "."),
            file.package(),
            "{} declares package {}",
            file.name(),
            file.package()
        );
    }
}

#[test]
fn event_round_trips_through_prost() {
    let event = v1::Event {
        event_id: "motcua-42".to_owned(),
        file_id: "000.17.22.H56-210531-0001".to_owned(),
        occurred_at: Some(dunghan::proto::wkt::Timestamp {
            seconds: 1_622_433_600,
            nanos: 0,
        }),
        source: "motcua-hanoi".to_owned(),
        kind: Some(v1::event::Kind::Received(v1::event::Received {
            procedure_code: "1.004227".to_owned(),
            channel: v1::Channel::Online.into(),
            receiving_unit_id: "H56.17".to_owned(),
            receiving_officer_id: "officer-7".to_owned(),
            appointment_at: Some(dunghan::proto::wkt::Timestamp {
                seconds: 1_622_797_200,
                nanos: 0,
            }),
        })),
    };

    let bytes = event.encode_to_vec();
    let decoded = v1::Event::decode(bytes.as_slice()).expect("bytes just encoded decode");

    assert_eq!(decoded, event);
    assert!(matches!(decoded.kind, Some(v1::event::Kind::Received(_))));
}

#[test]
fn storage_event_round_trips_through_prost() {
    let event = storage::v1::Event {
        event_id: "motcua-43".to_owned(),
        file_id: "000.17.22.H56-210531-0001".to_owned(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_622_520_000,
            nanos: 0,
        }),
        source: "motcua-hanoi".to_owned(),
        kind: Some(storage::v1::event::Kind::SupplementRequested(
            storage::v1::event::SupplementRequested {
                officer_id: "officer-7".to_owned(),
                reason: "missing land-use certificate copy".to_owned(),
                items: vec!["land-use certificate".to_owned()],
            },
        )),
    };

    let bytes = event.encode_to_vec();
    let decoded = storage::v1::Event::decode(bytes.as_slice()).expect("bytes just encoded decode");

    assert_eq!(decoded, event);
}

/// The wire API and storage descriptor sets the build script embedded, merged;
/// shared imports appear once.
fn descriptor_set() -> FileDescriptorSet {
    let mut merged = wire_descriptor_set();
    let storage_set = FileDescriptorSet::decode(STORAGE_FILE_DESCRIPTOR_SET)
        .expect("build.rs writes a valid storage descriptor set");
    for file in storage_set.file {
        if !merged.file.iter().any(|known| known.name() == file.name()) {
            merged.file.push(file);
        }
    }
    merged
}

/// The wire API's descriptor set, as served by reflection.
fn wire_descriptor_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
        .expect("build.rs writes a valid wire descriptor set")
}

/// The files of our own packages, without imported well-known types.
fn own_files(set: &FileDescriptorSet) -> Vec<&FileDescriptorProto> {
    let files: Vec<&FileDescriptorProto> = set
        .file
        .iter()
        .filter(|file| file.package().starts_with("dunghan."))
        .collect();
    assert!(!files.is_empty(), "the descriptor set has no dunghan files");
    files
}

/// Every service of the set, by fully qualified name.
fn services_by_name(set: &FileDescriptorSet) -> BTreeMap<String, &ServiceDescriptorProto> {
    own_files(set)
        .into_iter()
        .flat_map(|file| {
            file.service
                .iter()
                .map(move |service| (format!("{}.{}", file.package(), service.name()), service))
        })
        .collect()
}

#[track_caller]
fn find_method<'a>(
    service: &'a ServiceDescriptorProto,
    name: &str,
) -> &'a prost_types::MethodDescriptorProto {
    service
        .method
        .iter()
        .find(|method| method.name() == name)
        .unwrap_or_else(|| panic!("{} has no rpc {name}", service.name()))
}

/// Leading comments of a file, by source-code-info path.
fn leading_comments(file: &FileDescriptorProto) -> BTreeMap<Vec<i32>, String> {
    let info = file
        .source_code_info
        .as_ref()
        .unwrap_or_else(|| panic!("{} has no source info; build.rs must keep it", file.name()));
    info.location
        .iter()
        .filter_map(|location| {
            location
                .leading_comments
                .clone()
                .map(|comment| (location.path.clone(), comment))
        })
        .collect()
}

/// Checks a message, its fields, oneofs, nested messages and nested enums.
fn check_message(
    message: &DescriptorProto,
    path: &[i32],
    name: &str,
    check: &mut impl FnMut(&[i32], String),
) {
    check(path, format!("message {name}"));
    for (field_idx, field) in message.field.iter().enumerate() {
        check(
            &child(path, MESSAGE_FIELD, field_idx),
            format!("field {name}.{}", field.name()),
        );
    }
    for (oneof_idx, oneof) in message.oneof_decl.iter().enumerate() {
        // Synthetic oneofs of proto3 `optional` fields have no source of their own.
        if oneof.name().starts_with('_') {
            continue;
        }
        check(
            &child(path, MESSAGE_ONEOF_DECL, oneof_idx),
            format!("oneof {name}.{}", oneof.name()),
        );
    }
    for (nested_idx, nested) in message.nested_type.iter().enumerate() {
        let nested_name = format!("{name}.{}", nested.name());
        check_message(
            nested,
            &child(path, MESSAGE_NESTED_TYPE, nested_idx),
            &nested_name,
            check,
        );
    }
    for (enum_idx, enumeration) in message.enum_type.iter().enumerate() {
        let enum_name = format!("{name}.{}", enumeration.name());
        check_enum(
            enumeration,
            &child(path, MESSAGE_ENUM_TYPE, enum_idx),
            &enum_name,
            check,
        );
    }
}

/// Checks an enum and each of its values.
fn check_enum(
    enumeration: &EnumDescriptorProto,
    path: &[i32],
    name: &str,
    check: &mut impl FnMut(&[i32], String),
) {
    check(path, format!("enum {name}"));
    for (value_idx, value) in enumeration.value.iter().enumerate() {
        check(
            &child(path, ENUM_VALUE, value_idx),
            format!("enum value {name}.{}", value.name()),
        );
    }
}

/// The path of element `idx` of list `field` below `path`.
fn child(path: &[i32], field: i32, idx: usize) -> Vec<i32> {
    let mut child_path = path.to_vec();
    child_path.extend([field, index(idx)]);
    child_path
}

/// A list index as a source-code-info path component.
fn index(idx: usize) -> i32 {
    i32::try_from(idx).expect("a proto file has fewer than 2^31 elements")
}

/// `DeadlineUnit` becomes `DEADLINE_UNIT`.
fn upper_snake(camel: &str) -> String {
    let mut snake = String::new();
    for (char_idx, character) in camel.chars().enumerate() {
        if character.is_ascii_uppercase() && char_idx > 0 {
            snake.push('_');
        }
        snake.push(character.to_ascii_uppercase());
    }
    snake
}
