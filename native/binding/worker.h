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
//   async true: the op returns a Promise; the kernel runs in a Napi::AsyncWorker on a libuv thread
//     and the promise resolves to job->Result(env), called on the main thread after Run.
//
// Lifetimes in async mode (why references are held): the worker keeps raw pointers into the typed
// arrays' backing stores. A backing store lives as long as its ArrayBuffer, so the worker holds a
// persistent reference (Napi::ObjectReference) to every typed array it reads or writes (Fields'
// held(): every array F32 returned, plus those registered with Fields::Hold) from its constructor
// (main thread) until it is destroyed after OnOK/OnError (main thread). Without them the caller
// could drop its last reference and the GC could free memory the worker is writing to.
// Job::Run() runs on the worker thread and touches no napi_env / Napi value: everything it needs was
// copied into the Job on the main thread. Values that bound memory accesses (the cells' and the
// Jordan network's `lengths`, embedding `ids`, cross-entropy `targets`) are COPIED into the Job and
// checked on that copy, so changing the JS array during the call cannot send a kernel out of bounds.
// What references cannot prevent: the caller detaching (transferring) an input's ArrayBuffer or
// writing to the arrays before the promise settles. Inputs must not be touched until then; the TS
// layer documents this (lib/ops.ts, lib/nn/kernels.ts, lib/train/kernels.ts, lib/nn/jordan.ts).
// Outputs are allocated by the TS layer and not visible to callers until the promise resolves.
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
// "<name>: native kernel failed: ..." (thrown, or the promise's rejection), never an abort.
Napi::Value Dispatch(const Fields& f, const char* name, std::unique_ptr<Job> job, bool async);

}  // namespace gated_binding
