// worker.cc: Dispatch and the async worker behind it (worker.h explains the lifetimes and the
// teardown rules).
#include "worker.h"

#include <napi.h>

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gated_binding {
namespace {

// An Error with `code`, built with plain N-API calls that report failure by status (never a C++
// exception): nullptr when the environment can no longer create values.
napi_value MakeError(napi_env env, const char* code, const std::string& message) {
  napi_value code_v = nullptr, message_v = nullptr, err = nullptr;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok ||
      napi_create_string_utf8(env, message.data(), message.size(), &message_v) != napi_ok ||
      napi_create_error(env, nullptr, message_v, &err) != napi_ok) {
    return nullptr;
  }
  napi_set_named_property(env, err, "code", code_v);  // fails only while the env is torn down
  return err;
}

// Runs a Job on a libuv thread-pool thread and settles a promise on the main thread. Built on raw
// napi_async_work rather than Napi::AsyncWorker so that the completion path controls every call:
// see "Teardown" in worker.h.
class KernelWorker final {
 public:
  // Main thread. Returns the promise; the worker owns itself until Complete.
  static napi_value Start(const Fields& f, const char* name, std::unique_ptr<Job> job) {
    Napi::Env env = f.Env();
    std::unique_ptr<KernelWorker> self(new KernelWorker(name, std::move(job)));
    self->held_.reserve(f.held().size());
    for (const Fields::Held& h : f.held()) {
      self->held_.push_back(
          {h.name, Napi::Persistent(static_cast<Napi::Object>(h.array)), h.array.ByteLength()});
    }
    for (const Napi::Object& o : f.held_objects()) self->objects_.push_back(Napi::Persistent(o));
    napi_value promise = nullptr, resource_name = nullptr;
    NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &self->deferred_, &promise), nullptr);
    NAPI_THROW_IF_FAILED(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name), nullptr);
    NAPI_THROW_IF_FAILED(
        env, napi_create_async_work(env, nullptr, resource_name, Execute, Complete, self.get(), &self->work_),
        nullptr);
    napi_status queued = napi_queue_async_work(env, self->work_);
    if (queued != napi_ok) {
      napi_delete_async_work(env, self->work_);
      NAPI_THROW_IF_FAILED(env, queued, nullptr);
    }
    self.release();  // Complete deletes it
    return promise;
  }

 private:
  struct HeldRef {
    std::string name;
    Napi::ObjectReference ref;  // released when the worker is deleted (main thread, in Complete)
    size_t byte_length;         // at dispatch
  };

  KernelWorker(const char* name, std::unique_ptr<Job> job) : name_(name), job_(std::move(job)) {}

  // Worker thread: raw pointers only (no napi_env, no Napi value).
  static void Execute(napi_env, void* data) {
    auto* self = static_cast<KernelWorker*>(data);
    try {
      self->job_->Run();
    } catch (const std::exception& e) {
      self->failed_ = true;
      self->error_ = e.what();
    } catch (...) {
      self->failed_ = true;
    }
  }

  // Main thread, also while the environment is torn down (worker.h). Nothing may escape into
  // Node: a C++ exception here is std::terminate.
  static void Complete(napi_env env, napi_status status, void* data) {
    std::unique_ptr<KernelWorker> self(static_cast<KernelWorker*>(data));
    napi_delete_async_work(env, self->work_);
    try {
      self->Settle(env, status);
    } catch (...) {
      // Out of memory while building the outcome, or the env is going away: leave it pending.
    }
  }

  void Settle(napi_env env, napi_status status) {
    napi_value outcome = nullptr;
    bool resolve = false;
    try {
      std::string moved;
      if (status != napi_ok) {
        outcome = MakeError(env, kNative, name_ + ": the async call was cancelled");
      } else if (failed_) {
        outcome =
            MakeError(env, kNative, name_ + ": native kernel failed" + (error_.empty() ? "" : ": " + error_));
      } else if (!(moved = Moved()).empty()) {
        outcome =
            MakeError(env, kValue,
                      moved + ": its ArrayBuffer was detached or resized while " + name_ +
                          " ran asynchronously, so the kernel may have read or written memory the array no "
                          "longer owns and the results are meaningless: do not transfer or resize an "
                          "argument's buffer until the promise settles");
      } else {
        outcome = job_->Result(Napi::Env(env));
        resolve = true;
      }
    } catch (const Napi::Error& e) {
      outcome = e.Value();
      resolve = false;
    } catch (const std::exception& e) {
      outcome = MakeError(env, kNative, name_ + ": native error: " + e.what());
      resolve = false;
    }
    if (outcome == nullptr) return;  // the env can no longer create values: it is going away
    // Fails (napi_pending_exception) only when the env can no longer run JavaScript, i.e. it is
    // being torn down: nobody can observe the promise any more, so there is nothing to report.
    if (resolve) {
      napi_resolve_deferred(env, deferred_, outcome);
    } else {
      napi_reject_deferred(env, deferred_, outcome);
    }
  }

  // The name of the first held array whose buffer was detached or resized since dispatch, or "".
  // Zero-length arrays are skipped: the kernel never touched their memory.
  std::string Moved() const {
    for (const HeldRef& h : held_) {
      if (h.byte_length == 0) continue;
      Napi::TypedArray a = h.ref.Value().As<Napi::TypedArray>();
      if (a.ArrayBuffer().IsDetached() || a.ByteLength() != h.byte_length) return h.name;
    }
    return "";
  }

  std::string name_;
  std::unique_ptr<Job> job_;
  bool failed_ = false;  // written by Execute, read by Complete (the libuv queue orders them)
  std::string error_;    // the kernel's exception message, if any
  napi_deferred deferred_ = nullptr;
  napi_async_work work_ = nullptr;
  std::vector<HeldRef> held_;
  std::vector<Napi::ObjectReference> objects_;  // plain objects kept alive (Fields::HoldObject)
};

}  // namespace

Napi::Value Dispatch(const Fields& f, const char* name, std::unique_ptr<Job> job, bool async) {
  Napi::Env env = f.Env();
  if (async) return Napi::Value(env, KernelWorker::Start(f, name, std::move(job)));
  try {
    job->Run();
  } catch (const std::exception& e) {
    Throw(env, kNative, std::string(name) + ": native kernel failed: " + e.what());
  }
  return job->Result(env);
}

}  // namespace gated_binding
