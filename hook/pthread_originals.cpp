// pthread_originals.cpp — resolves glibc's pthread functions (pthread_originals.hpp) at load.
//
// Owns: nothing but the eager lookup. Invariant: it runs as a constructor of libweft_hook.so, before
// any fiber exists, so a hook's first call never has to run dlsym (and take the loader lock) on a fiber.
#include <hook/pthread_originals.hpp>

namespace {

__attribute__((constructor)) void resolve_pthread_originals() {
  namespace wh = weft::hook::detail;
  (void)wh::libc_pthread_mutex_lock();
  (void)wh::libc_pthread_mutex_trylock();
  (void)wh::libc_pthread_mutex_unlock();
  (void)wh::libc_pthread_mutex_timedlock();
  (void)wh::libc_pthread_mutex_clocklock();
  (void)wh::libc_pthread_cond_wait();
  (void)wh::libc_pthread_cond_timedwait();
  (void)wh::libc_pthread_cond_clockwait();
  (void)wh::libc_pthread_cond_signal();
  (void)wh::libc_pthread_cond_broadcast();
}

}  // namespace
