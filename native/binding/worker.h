// worker.h: how every op of the addon runs its kernel: now on the calling thread (sync) or on a
// libuv worker thread behind a Promise (async). One mechanism for the cell ops (binding.cc), the
// layer kernels (nn_binding.cc), the training ops (train_binding.cc) and the Jordan network
// (jordan_binding.cc). Implementation: worker.cc.
//
// An op reads and checks its argument object with Fields (args.h), copies everything the kernel
// needs into a Job (raw pointers into the typed arrays, sizes, options), and hands the Job to
// Dispatch together with the op's `async` field:
//   async false (default): the kernel runs on the calling thread; the op returns job->Result(env)
//     (undefined unless the Job overrides it).
//   async true: the op returns a Promise; the kernel runs on a libuv thread-pool thread (raw
//     napi_async_work) and the promise settles on the main thread after Run: resolved to
//     job->Result(env), or rejected with a JS error whose `code` the TS layer maps to a typed error.
//
// Lifetimes in async mode (why references are held): the worker keeps raw pointers into the typed
// arrays' backing stores. A backing store lives as long as its ArrayBuffer, so the worker holds a
// persistent reference to every typed array it reads or writes (Fields' held(): every array F32
// returned, plus those registered with Fields::Hold) from Dispatch (main thread) until the promise
// settles (main thread). Without them the caller could drop its last reference and the GC could free
// memory the worker is writing to. Job::Run() runs on the worker thread and touches no napi_env /
// Napi value: everything it needs was copied into the Job on the main thread. Values that bound
// memory accesses (the cells' and the Jordan network's `lengths`, embedding `ids`, cross-entropy
// `targets`) are COPIED into the Job and checked on that copy, so changing the JS array during the
// call cannot send a kernel out of bounds.
//
// What references cannot prevent: the caller detaching (transferring: postMessage(buf, [buf]),
// structuredClone with `transfer`) or shrinking an argument's ArrayBuffer while the kernel runs. The
// memory then belongs to the new owner and may be freed (garbage-collected) under the kernel; N-API
// has no way to keep a V8 backing store alive across a detach, nor to forbid one. So the worker
// notices it instead: when the kernel ends it checks every held array's buffer (still attached, same
// byte length) and, if one moved, rejects with ERR_GATED_VALUE naming that argument rather than
// resolving with meaningless results. This is a diagnosis, not a protection: by then the kernel may
// have read or written memory the array no longer owns. The rule for callers of the raw ops stays
// "do not touch the arguments until the promise settles" (lib/ops/op.ts); code above the raw ops
// that takes arrays from users must hand the kernels arrays it owns.
// Outputs are allocated by the TS layer and not visible to callers until the promise resolves.
//
// Teardown (worker.terminate(), process.exit() with a worker running, the end of a worker's script):
// Node does not free an environment under running thread-pool work. Environment::RunCleanup first
// waits for every queued napi_async_work to finish and runs its completion callback, and only then
// runs the cleanup hooks that release the napi_env; the isolate (and so every ArrayBuffer we hold)
// is disposed after that. An op in flight therefore finishes writing into live memory, and its
// completion runs in an environment that can no longer call into JavaScript: N-API calls such as
// napi_resolve_deferred return napi_pending_exception there. Napi::AsyncWorker turns that status
// into a C++ exception thrown out of a C callback, i.e. std::terminate ("terminate called after
// throwing an instance of 'Napi::Error'", SIGABRT for the whole process). Our completion path checks
// statuses instead, never lets an exception escape, and leaves the promise unsettled when the env is
// going away (nobody can observe it any more). The same holds for a call that is running when its
// env stops JavaScript (a getter the binding reads is cut short): the binding's Napi::Error then
// cannot be thrown into JavaScript, and node-addon-api's NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
// (binding.gyp, CMakeLists.txt) makes it drop the error instead of aborting.
// test/teardown.test.ts holds the cases.
#pragma once
#include <napi.h>

#include <memory>

#include "args.h"

namespace gated_binding {

// One kernel call with its arguments, owned by the calling thread (sync) or by the worker (async).
struct Job {
  virtual ~Job() = default;
  // The kernel. Raw pointers and plain values only: no Napi, no napi_env (it may run on a worker).
  virtual void Run() = 0;
  // What the op returns (sync) or the promise resolves to (async); main thread, after Run.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
};

// Runs the job now (async false) or queues it on a libuv worker and returns a Promise (async true),
// holding a reference to every array in f.held() until it settles. Kernel exceptions
// (std::bad_alloc for a workspace) become JS errors with code ERR_GATED_NATIVE, message
// "<name>: native kernel failed: ..." (thrown, or the promise's rejection), never an abort. An async
// call whose argument's buffer was detached or resized before the kernel ended rejects with
// ERR_GATED_VALUE, message "<argument>: its ArrayBuffer was detached or resized while <name> ran...".
Napi::Value Dispatch(const Fields& f, const char* name, std::unique_ptr<Job> job, bool async);

}  // namespace gated_binding
