//! Identifier newtypes.
//!
//! Every id that crosses the domain is a validated newtype so that a file id can never be
//! passed where an officer id is expected. Ids are opaque strings chosen by the source
//! systems (e.g. `000.17.22.H56-210531-0001` for a file, `1.004227` for a procedure).
//! They are non-empty, at most [`MAX_ID_LEN`] bytes, and contain no control characters.

use std::fmt;

use thiserror::Error;

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The id is the empty string.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which kind of id (e.g. `file id`).
        kind: &'static str,
    },
    /// The id is longer than [`MAX_ID_LEN`] bytes.
    #[error("{kind} is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// Which kind of id.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit, [`MAX_ID_LEN`].
        max: usize,
    },
    /// The id contains a control character (newline, NUL...).
    #[error("{kind} {value:?} contains a control character")]
    ControlCharacter {
        /// Which kind of id.
        kind: &'static str,
        /// The offending value.
        value: String,
    },
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// What this id is called in error messages.
            pub const KIND: &'static str = $kind;

            /// Validates and wraps `value`.
            ///
            /// # Errors
            /// [`IdError`] if `value` is empty, too long, or has a control character.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate_id($kind, &value)?;
                Ok(Self(value))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// Mã hồ sơ: the id of one file (one application), unique nationally.
    FileId,
    "file id"
);
id_type!(
    /// The idempotency key of an event, unique within its source.
    EventId,
    "event id"
);
id_type!(
    /// The pushing system (a province's one-stop software, the national portal sync).
    SourceId,
    "source"
);
id_type!(
    /// Code of a procedure in the national database, e.g. `1.004227`.
    ProcedureCode,
    "procedure code"
);
id_type!(
    /// Code of one internal step of a procedure.
    StepCode,
    "step code"
);
id_type!(
    /// Id of a unit of the unit tree (province, department, division, commune, center).
    UnitId,
    "unit id"
);
id_type!(
    /// Id of an officer (cán bộ, công chức).
    OfficerId,
    "officer id"
);
id_type!(
    /// Id of a working calendar.
    CalendarId,
    "calendar id"
);
id_type!(
    /// Code of a field (lĩnh vực): land, construction, civil status...
    FieldCode,
    "field code"
);

fn validate_id(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            len: value.len(),
            max: MAX_ID_LEN,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter {
            kind,
            value: value.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_file_id() {
        let id = FileId::new("000.17.22.H56-210531-0001").unwrap();
        assert_eq!(id.as_str(), "000.17.22.H56-210531-0001");
    }

    #[test]
    fn refuses_empty_long_and_control() {
        assert_eq!(FileId::new(""), Err(IdError::Empty { kind: "file id" }));
        assert!(matches!(
            OfficerId::new("x".repeat(129)),
            Err(IdError::TooLong { len: 129, .. })
        ));
        assert!(matches!(
            UnitId::new("a\nb"),
            Err(IdError::ControlCharacter { .. })
        ));
    }
}
