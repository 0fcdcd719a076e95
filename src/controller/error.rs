//! Reconciler errors, with the context a user needs to act on them.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {context}: {source}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("azure: {0}")]
    Arm(#[from] super::arm::ArmFailure),
    /// Deletion is under way and must be looked at again (keeps the finalizer in place).
    #[error("waiting: {0}")]
    Waiting(String),
}

impl Error {
    pub fn kube(context: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let context = context.into();
        move |source| Error::Kube { context, source }
    }

    /// Short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::MissingMetadata(_) => "metadata",
            Error::Credentials(_) => "credentials",
            Error::Arm(_) => "azure",
            Error::Waiting(_) => "waiting",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The Ready reason a reconcile that failed with this error reports.
    pub fn ready_reason(&self) -> super::conditions::ReadyReason {
        use super::conditions::ReadyReason;
        match self {
            Error::Finalizer(f) => match f.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e.ready_reason(),
                _ => ReadyReason::Converging,
            },
            Error::Credentials(_) => ReadyReason::CredentialsUnavailable,
            Error::Arm(f) if f.code == "OutOfScope" => ReadyReason::OutOfScope,
            Error::Arm(_) => ReadyReason::AzureError,
            Error::MissingMetadata(_) => ReadyReason::InvalidSpec,
            Error::Waiting(_) => ReadyReason::Deleting,
            // The apiserver failed: nothing the user must do; moat tries again.
            Error::Kube { .. } => ReadyReason::Converging,
        }
    }
}

impl Error {
    /// True when the error only means "look again soon" (a deletion in progress).
    pub fn is_waiting(&self) -> bool {
        match self {
            Error::Waiting(_) => true,
            Error::Finalizer(f) => matches!(f.as_ref(), kube::runtime::finalizer::Error::CleanupFailed(Error::Waiting(_))),
            _ => false,
        }
    }

    /// True when adding or removing moat's finalizer lost a race: the JSON patch tests the
    /// finalizers the reconcile's copy of the object had, and the apiserver holds others (422
    /// Invalid, with no field named: not a validation rule refusing the object), or the object
    /// changed meanwhile (409 Conflict). The first in a row is looked at again at once, from the
    /// object as it is now, without a failure condition (`controller::run`'s error policy); a
    /// repeat is a failure like any other. The 10-workspace benchmark saw it on the first pass of
    /// a binding its workspace had just created.
    pub fn is_stale_copy(&self) -> bool {
        use kube::runtime::finalizer::Error as F;
        match self {
            Error::Finalizer(f) => match f.as_ref() {
                F::AddFinalizer(kube::Error::Api(s)) | F::RemoveFinalizer(kube::Error::Api(s)) => {
                    s.is_conflict() || (s.is_invalid() && s.details.as_ref().is_none_or(|d| d.causes.iter().all(|c| c.field.is_empty())))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::runtime::finalizer::Error as F;

    fn adding(code: u16, reason: &str) -> Error {
        Error::Finalizer(Box::new(F::AddFinalizer(kube::Error::Api(Status::failure("the server rejected our request due to an error in our request", reason).with_code(code).boxed()))))
    }

    #[test]
    fn a_finalizer_patch_from_an_out_of_date_copy_is_told_from_a_refusal() {
        assert!(adding(422, "Invalid").is_stale_copy(), "the JSON patch's test failed");
        assert!(adding(409, "Conflict").is_stale_copy());
        let removing = Error::Finalizer(Box::new(F::RemoveFinalizer(kube::Error::Api(Status::failure("conflict", "Conflict").with_code(409).boxed()))));
        assert!(removing.is_stale_copy());
        // A validation rule refusing the object names the field: a failure, reported and backed off.
        let cause = serde_json::json!({"reason": "FieldValueInvalid", "message": "must not be empty", "field": "spec.target.id"});
        let details: kube::core::response::StatusDetails =
            serde_json::from_value(serde_json::json!({"name": "b", "kind": "PrivateEndpointBinding", "causes": [cause]})).expect("details");
        let refused = Error::Finalizer(Box::new(F::AddFinalizer(kube::Error::Api(Status::failure("invalid", "Invalid").with_code(422).with_details(details).boxed()))));
        assert!(!refused.is_stale_copy());
        // The patch's failed test, as some apiservers word it: a cause that names no field.
        let details: kube::core::response::StatusDetails =
            serde_json::from_value(serde_json::json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "testing value /metadata/finalizers failed"}]})).expect("details");
        let tested = Error::Finalizer(Box::new(F::AddFinalizer(kube::Error::Api(Status::failure("invalid", "Invalid").with_code(422).with_details(details).boxed()))));
        assert!(tested.is_stale_copy());
        assert!(!adding(403, "Forbidden").is_stale_copy());
        assert!(!adding(500, "InternalError").is_stale_copy());
        let apply = Error::Finalizer(Box::new(F::ApplyFailed(Error::MissingMetadata("uid"))));
        assert!(!apply.is_stale_copy());
        // None of them is a wait.
        assert!(!adding(422, "Invalid").is_waiting());
    }
}
