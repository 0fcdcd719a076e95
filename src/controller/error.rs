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
}
