// worker.cc: Dispatch and the async worker behind it (worker.h explains the lifetimes).
#include "worker.h"

#include <napi.h>

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gated_binding {
namespace {

// Runs a Job off the main thread and settles a promise. See "Lifetimes" in worker.h.
class KernelWorker final : public Napi::AsyncWorker {
 public:
  KernelWorker(Napi::Env env, const char* name, std::unique_ptr<Job> job,
               const std::vector<Napi::Object>& held)
      : Napi::AsyncWorker(env, name),
        name_(name),
        job_(std::move(job)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    refs_.reserve(held.size());
    for (const Napi::Object& o : held) refs_.push_back(Napi::Persistent(o));
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // Worker thread: raw pointers only.
  void Execute() override {
    try {
      job_->Run();
    } catch (const std::exception& e) {
      SetError(name_ + ": native kernel failed: " + e.what());
    } catch (...) {
      SetError(name_ + ": native kernel failed");
    }
  }
  // Main thread (AsyncWorker opens a HandleScope around both).
  void OnOK() override {
    Napi::Value result;
    try {
      result = job_->Result(Env());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
      return;
    } catch (const std::exception& e) {
      RejectNative(name_ + ": native error: " + e.what());
      return;
    }
    deferred_.Resolve(result);
  }
  void OnError(const Napi::Error& e) override {
    Napi::Object err = e.Value();
    err.Set("code", Napi::String::New(Env(), kNative));
    deferred_.Reject(err);
  }

 private:
  void RejectNative(const std::string& message) {
    Napi::Error err = Napi::Error::New(Env(), message);
    err.Value().Set("code", Napi::String::New(Env(), kNative));
    deferred_.Reject(err.Value());
  }

  std::string name_;
  std::unique_ptr<Job> job_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> refs_;  // released when the worker is deleted (main thread)
};

}  // namespace

Napi::Value Dispatch(const Fields& f, const char* name, std::unique_ptr<Job> job, bool async) {
  Napi::Env env = f.Env();
  if (async) {
    auto* worker = new KernelWorker(env, name, std::move(job), f.held());
    Napi::Promise promise = worker->Promise();
    worker->Queue();  // the worker deletes itself after OnOK/OnError
    return promise;
  }
  try {
    job->Run();
  } catch (const std::exception& e) {
    Throw(env, kNative, std::string(name) + ": native kernel failed: " + e.what());
  }
  return job->Result(env);
}

}  // namespace gated_binding
