//! What the crate reports to `tracing` with the `tracing` feature, and
//! nothing without it: a span for each tenant scope (its tenant) and each
//! operation (its operation, the rows its statements returned, its
//! outcome), and a warning when a commit's outcome is unknown. Message
//! text is never recorded.

use crate::ids::TenantId;

/// The span of a tenant scope or a operation; nothing without the
/// feature.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Span {
    /// The span of a scope of `tenant`.
    pub(crate) fn scope(tenant: TenantId) -> Self {
        #[cfg(not(feature = "tracing"))]
        let _ = tenant;
        Self {
            #[cfg(feature = "tracing")]
            span: tracing::debug_span!(
                "tenant_scope",
                tenant_id = %tenant,
                outcome = tracing::field::Empty,
            ),
        }
    }

    /// The span of the operation `operation`.
    pub(crate) fn call(operation: &'static str) -> Self {
        #[cfg(not(feature = "tracing"))]
        let _ = operation;
        Self {
            #[cfg(feature = "tracing")]
            span: tracing::debug_span!(
                "skill_messages_call",
                operation,
                rows = tracing::field::Empty,
                outcome = tracing::field::Empty,
            ),
        }
    }

    /// Runs `f` inside the span.
    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        return self.span.in_scope(f);
        #[cfg(not(feature = "tracing"))]
        f()
    }

    /// Runs the future `f` inside the span.
    #[cfg(feature = "async")]
    pub(crate) async fn instrument<F: Future>(&self, f: F) -> F::Output {
        #[cfg(feature = "tracing")]
        return tracing::Instrument::instrument(f, self.span.clone()).await;
        #[cfg(not(feature = "tracing"))]
        f.await
    }

    /// Records how many rows the call's statements returned.
    pub(crate) fn rows(&self, rows: usize) {
        #[cfg(feature = "tracing")]
        self.span.record("rows", rows);
        #[cfg(not(feature = "tracing"))]
        let _ = rows;
    }

    /// Records how the call or scope ended.
    pub(crate) fn outcome(&self, outcome: &'static str) {
        #[cfg(feature = "tracing")]
        self.span.record("outcome", outcome);
        #[cfg(not(feature = "tracing"))]
        let _ = outcome;
    }
}

/// Warns that the connection failed while a scope committed.
pub(crate) fn commit_outcome_unknown(error: &diesel::result::Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        error = %error,
        "the connection failed during commit: the scope's writes are all committed or all absent"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// A warning for each of the database's `warnings`, found when a pool was
/// built.
pub(crate) fn warnings(warnings: &[String]) {
    #[cfg(feature = "tracing")]
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = warnings;
}

/// Reports a maintenance action that committed: which, by whom (the login
/// and the role it ran as), in which tenant (`None`: every tenant), and how
/// many rows it touched.
pub(crate) fn maintenance(
    action: &'static str,
    login: &str,
    role: &str,
    tenant: Option<TenantId>,
    rows: u64,
) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "skill_messages::maintenance",
        action,
        login,
        role,
        tenant_id = tenant.map(tracing::field::display),
        rows,
        "maintenance action committed"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (action, login, role, tenant, rows);
}

/// Reports how far a batched maintenance action has come: the rows it has
/// deleted so far, every batch committed.
pub(crate) fn progress(action: &'static str, tenant: Option<TenantId>, deleted: u64) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "skill_messages::maintenance",
        action,
        tenant_id = tenant.map(tracing::field::display),
        deleted,
        "maintenance progress"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (action, tenant, deleted);
}
