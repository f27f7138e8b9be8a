// Tells ThreadSanitizer about the contended path of Swift's Synchronization.Mutex on Linux x86-64.
//
// Mutex's fast paths are inlined into the caller as atomic compare-and-exchanges, which an instrumented
// build reports to ThreadSanitizer as acquire and release. Its slow paths (`_lockSlow`, `_tryLockSlow`,
// `_unlockSlow`) live in the toolchain's uninstrumented libswiftSynchronization.so and hand the lock over
// with FUTEX_LOCK_PI in the kernel, so ThreadSanitizer never sees that hand-over and reports accesses under
// a contended Mutex as races. scripts/test-tsan links this into the instrumented executables: it defines
// the three functions, calls the real ones (the next definition, in the library), and adds the acquire
// (after locking) or release (before unlocking) on the lock word, the address the inlined fast paths use.
// Without ThreadSanitizer in the process the `__tsan_*` functions are absent and it only forwards.
//
// Swift passes `self` (the lock word's address) in r13, which C cannot name, hence the assembly.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

#if !defined(__x86_64__) || !defined(__linux__)
#error "written for Linux on x86-64"
#endif

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

extern void __tsan_acquire(void *address) __attribute__((weak));
extern void __tsan_release(void *address) __attribute__((weak));

// The real functions, found on first use (the runtime may lock before constructors run).
__attribute__((visibility("hidden"))) void *parley_real_lock_slow;
__attribute__((visibility("hidden"))) void *parley_real_try_lock_slow;
__attribute__((visibility("hidden"))) void *parley_real_unlock_slow;

static void *find(const char *name) {
    void *function = dlsym(RTLD_NEXT, name);
    if (function == NULL) abort();
    return function;
}

__attribute__((visibility("hidden"))) void parley_resolve(void) {
    if (__atomic_load_n(&parley_real_unlock_slow, __ATOMIC_ACQUIRE) != NULL) return;
    __atomic_store_n(&parley_real_lock_slow, find(LOCK_SLOW), __ATOMIC_RELAXED);
    __atomic_store_n(&parley_real_try_lock_slow, find(TRY_LOCK_SLOW), __ATOMIC_RELAXED);
    __atomic_store_n(&parley_real_unlock_slow, find(UNLOCK_SLOW), __ATOMIC_RELEASE);
}

__attribute__((visibility("hidden"))) void parley_acquire(void *address) {
    if (__tsan_acquire) __tsan_acquire(address);
}

__attribute__((visibility("hidden"))) void parley_release(void *address) {
    if (__tsan_release) __tsan_release(address);
}

// Each keeps r13 (self) on the stack across the calls; the stack stays 16-byte aligned at each call.
__asm__(
    ".text\n"
    ".globl \"" LOCK_SLOW "\"\n"
    ".type \"" LOCK_SLOW "\", @function\n"
    "\"" LOCK_SLOW "\":\n"
    "    push %rbp\n"
    "    mov %rsp, %rbp\n"
    "    push %r13\n"
    "    push %rdi\n"
    "    call parley_resolve\n"
    "    mov -16(%rbp), %rdi\n"  // the thread id
    "    mov -8(%rbp), %r13\n"
    "    call *parley_real_lock_slow(%rip)\n"
    "    mov -8(%rbp), %rdi\n"
    "    call parley_acquire\n"
    "    mov -8(%rbp), %r13\n"
    "    leave\n"
    "    ret\n"

    ".globl \"" TRY_LOCK_SLOW "\"\n"
    ".type \"" TRY_LOCK_SLOW "\", @function\n"
    "\"" TRY_LOCK_SLOW "\":\n"
    "    push %rbp\n"
    "    mov %rsp, %rbp\n"
    "    push %r13\n"
    "    push %rbx\n"
    "    call parley_resolve\n"
    "    mov -8(%rbp), %r13\n"
    "    call *parley_real_try_lock_slow(%rip)\n"
    "    movzbl %al, %ebx\n"
    "    test %ebx, %ebx\n"
    "    jz 1f\n"
    "    mov -8(%rbp), %rdi\n"
    "    call parley_acquire\n"
    "1:  mov %ebx, %eax\n"
    "    mov -16(%rbp), %rbx\n"
    "    mov -8(%rbp), %r13\n"
    "    leave\n"
    "    ret\n"

    ".globl \"" UNLOCK_SLOW "\"\n"
    ".type \"" UNLOCK_SLOW "\", @function\n"
    "\"" UNLOCK_SLOW "\":\n"
    "    push %rbp\n"
    "    mov %rsp, %rbp\n"
    "    push %r13\n"
    "    sub $8, %rsp\n"
    "    call parley_resolve\n"
    "    mov -8(%rbp), %rdi\n"
    "    call parley_release\n"
    "    mov -8(%rbp), %r13\n"
    "    call *parley_real_unlock_slow(%rip)\n"
    "    mov -8(%rbp), %r13\n"
    "    leave\n"
    "    ret\n");
