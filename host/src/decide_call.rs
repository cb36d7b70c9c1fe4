//! The `authorizer.decide` export, called with the request's strings
//! borrowed.
//!
//! bindgen's `call_decide` takes the generated `Request`, whose fields are
//! `String`s: a decision would allocate and copy four strings only for
//! wasmtime to copy them again into guest memory. Lowering `&str`s is the
//! same canonical ABI without those copies, and a cached decision is short
//! enough for them to show.

use crate::authorizer::Request;
use crate::bindings::{WitDecision, WitError, WitLoggedDecision};
use crate::sandbox::HostState;
use wasmtime::Store;
use wasmtime::component::{
    ComponentExportIndex, ComponentType, Func, Instance, Lower, ResourceAny, TypedFunc,
};

/// The WIT `request` record, borrowing its strings.
#[derive(ComponentType, Lower)]
#[component(record)]
struct RequestRef<'a> {
    user: &'a str,
    action: &'a str,
    resource: &'a str,
    context: &'a str,
}

/// `decide(engine, cache, rule, req, now-ms, expires-at-ms)`.
type Params<'a> = (ResourceAny, ResourceAny, &'a str, RequestRef<'a>, u64, u64);
type Results = (Result<WitDecision, WitError>,);

impl<'a> From<&Request<'a>> for RequestRef<'a> {
    fn from(req: &Request<'a>) -> Self {
        RequestRef {
            user: req.user,
            action: req.action,
            resource: req.resource,
            context: req.context,
        }
    }
}

/// Where the authorizer's function `name` is among a component's exports.
fn authorizer_export(
    component: &wasmtime::component::Component,
    name: &str,
) -> Option<ComponentExportIndex> {
    let iface = component.get_export_index(None, "sark:policy/authorizer@0.1.0")?;
    component.get_export_index(Some(&iface), name)
}

/// Where `decide` is among a component's exports; found once per runtime.
pub(crate) fn export_index(
    component: &wasmtime::component::Component,
) -> Option<ComponentExportIndex> {
    authorizer_export(component, "decide")
}

/// One instance's `decide`, type-checked against [`Params`] when found.
#[derive(Clone, Copy)]
pub(crate) struct DecideFunc(Func);

impl DecideFunc {
    pub fn new(
        store: &mut Store<HostState>,
        instance: &Instance,
        index: &ComponentExportIndex,
    ) -> wasmtime::Result<Self> {
        let typed = instance.get_typed_func::<Params<'static>, Results>(store, index)?;
        Ok(DecideFunc(*typed.func()))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn call(
        self,
        store: &mut Store<HostState>,
        engine: ResourceAny,
        cache: ResourceAny,
        rule: &str,
        req: &Request<'_>,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> wasmtime::Result<Result<WitDecision, WitError>> {
        // SAFETY: `new` type-checked this function against `Params<'static>`
        // and `Results`; lifetimes are not part of a component type, so the
        // check holds for `Params<'_>` (bindgen's own calls rely on the same
        // `new_unchecked` with borrowed arguments).
        #[allow(unsafe_code)]
        let f = unsafe { TypedFunc::<Params<'_>, Results>::new_unchecked(self.0) };
        let req = RequestRef::from(req);
        let (r,) = f.call(store, (engine, cache, rule, req, now_ms, expires_at_ms))?;
        Ok(r)
    }
}

/// `decide-logged(engine, cache, log, rule, req, now-ms, expires-at-ms,
/// timestamp-ns)`.
type LoggedParams<'a> = (
    ResourceAny,
    ResourceAny,
    ResourceAny,
    &'a str,
    RequestRef<'a>,
    u64,
    u64,
    u64,
);
type LoggedResults = (Result<WitLoggedDecision, WitError>,);

/// Where `decide-logged` is among a component's exports.
pub(crate) fn logged_export_index(
    component: &wasmtime::component::Component,
) -> Option<ComponentExportIndex> {
    authorizer_export(component, "decide-logged")
}

/// One instance's decision log and its `decide-logged`, type-checked
/// against [`LoggedParams`] when found.
#[derive(Clone, Copy)]
pub(crate) struct LoggedFunc {
    /// The instance's `log` resource.
    pub log: ResourceAny,
    func: Func,
}

impl LoggedFunc {
    pub fn new(
        store: &mut Store<HostState>,
        instance: &Instance,
        index: &ComponentExportIndex,
        log: ResourceAny,
    ) -> wasmtime::Result<Self> {
        let typed =
            instance.get_typed_func::<LoggedParams<'static>, LoggedResults>(store, index)?;
        Ok(LoggedFunc {
            log,
            func: *typed.func(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn call(
        self,
        store: &mut Store<HostState>,
        engine: ResourceAny,
        cache: ResourceAny,
        rule: &str,
        req: &Request<'_>,
        now_ms: u64,
        expires_at_ms: u64,
        timestamp_ns: u64,
    ) -> wasmtime::Result<Result<WitLoggedDecision, WitError>> {
        // SAFETY: as in `DecideFunc::call`: `new` type-checked the function
        // against `LoggedParams<'static>`, and lifetimes are not part of a
        // component type.
        #[allow(unsafe_code)]
        let f = unsafe { TypedFunc::<LoggedParams<'_>, LoggedResults>::new_unchecked(self.func) };
        let req = RequestRef::from(req);
        let args = (
            engine,
            cache,
            self.log,
            rule,
            req,
            now_ms,
            expires_at_ms,
            timestamp_ns,
        );
        let (r,) = f.call(store, args)?;
        Ok(r)
    }
}
