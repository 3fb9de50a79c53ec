// GNU-only functions and C macros that Swift cannot import directly.
// Every symbol is prefixed CLinuxShims_ so it cannot collide with libc.
#ifndef CLINUXSHIMS_H
#define CLINUXSHIMS_H

// Order matters: glibc's socket headers before any <linux/...> header, or clang modules
// see two definitions of the same structs (see reference/linux-dataplane.md §5).
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>

// --- splice(2) and pipes -----------------------------------------------------------------
extern const unsigned int CLinuxShims_SPLICE_F_MOVE;
extern const unsigned int CLinuxShims_SPLICE_F_NONBLOCK;

/// splice(2) without offsets (both ends are sockets or pipes). Returns -1 and sets errno on failure.
ssize_t CLinuxShims_splice(int fd_in, int fd_out, size_t len, unsigned int flags);
/// pipe2(2) with O_NONBLOCK|O_CLOEXEC.
int CLinuxShims_pipe2_nonblock(int fds[2]);
/// fcntl(F_SETPIPE_SZ); returns the size the kernel actually set, or -1.
int CLinuxShims_set_pipe_size(int fd, int size);
/// fcntl(F_GETPIPE_SZ).
int CLinuxShims_get_pipe_size(int fd);

// --- sockets ------------------------------------------------------------------------------
extern const int CLinuxShims_SOCK_NONBLOCK;
extern const int CLinuxShims_SOCK_CLOEXEC;
extern const int CLinuxShims_IP_BIND_ADDRESS_NO_PORT;

/// accept4(2) with SOCK_NONBLOCK|SOCK_CLOEXEC.
int CLinuxShims_accept4_nonblock(int fd, struct sockaddr *addr, socklen_t *len);
/// getsockopt(SOL_IP, SO_ORIGINAL_DST): the pre-NAT destination of a redirected IPv4 connection.
int CLinuxShims_original_dst_v4(int fd, struct sockaddr_in *out);
/// getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST): the same for IPv6.
int CLinuxShims_original_dst_v6(int fd, struct sockaddr_in6 *out);

// --- epoll (EPOLL_EVENTS is an enum Swift only sees through this header) --------------------
extern const uint32_t CLinuxShims_EPOLLIN;
extern const uint32_t CLinuxShims_EPOLLOUT;
extern const uint32_t CLinuxShims_EPOLLRDHUP;
extern const uint32_t CLinuxShims_EPOLLERR;
extern const uint32_t CLinuxShims_EPOLLHUP;
extern const uint32_t CLinuxShims_EPOLLET;
extern const int CLinuxShims_EFD_NONBLOCK_CLOEXEC;

// --- threads ----------------------------------------------------------------------------
/// pthread_setname_np(pthread_self(), name); names longer than 15 bytes are truncated.
void CLinuxShims_set_thread_name(const char *name);

// --- signals (struct signalfd_siginfo stays on this side) ---------------------------------------
/// signalfd(-1, mask, SFD_NONBLOCK|SFD_CLOEXEC): a new descriptor that reads the signals of
/// `mask`, which the caller must have blocked in every thread.
int CLinuxShims_signalfd_nonblock(const sigset_t *mask);
/// Reads one struct signalfd_siginfo from a signalfd and returns its ssi_signo; -1 with errno
/// (EAGAIN: no signal pending) otherwise.
int CLinuxShims_signalfd_read_signal(int fd);

// --- errno is a macro over a thread-local; read it through a function ----------------------
int CLinuxShims_errno(void);
void CLinuxShims_set_errno(int value);

// --- counters -------------------------------------------------------------------------------
/// Adds to a counter that only the calling thread writes: a relaxed atomic load and store (no
/// locked read-modify-write, so no cache-line contention), safe to read from other threads.
/// malloc_trim(3) (declared in <malloc.h>, which Swift's Glibc module does not import).
int CLinuxShims_malloc_trim(size_t pad);

static inline void CLinuxShims_counter_add(uint64_t *counter, uint64_t amount) {
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + amount, __ATOMIC_RELAXED);
}
/// Reads a counter another thread writes.
static inline uint64_t CLinuxShims_counter_load(const uint64_t *counter) {
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/// pidfd_open(2) (Linux 5.3): a close-on-exec descriptor that turns readable when process `pid`
/// exits; -1 with errno (ENOSYS on older kernels).
int CLinuxShims_pidfd_open(pid_t pid);

/// The path of the loaded object (the executable or a shared library) whose code holds
/// `address`, as dladdr(3) reports it (declared only under _GNU_SOURCE); NULL if none does.
const char *CLinuxShims_object_path_of(const void *address);

// --- netlink --------------------------------------------------------------------------------
/// Decodes an NLMSG_ERROR message: *error gets the (positive) errno or 0 for an ACK, *seq the
/// sequence number of the request it answers. Returns 0, or -1 if the message is not a
/// well-formed NLMSG_ERROR of at least `len` bytes.
int CLinuxShims_decode_nlmsgerr(const void *message, size_t len, int *error, uint32_t *seq);

#endif
