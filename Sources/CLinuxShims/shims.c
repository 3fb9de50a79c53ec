#ifndef _GNU_SOURCE
#error "CLinuxShims must be built with _GNU_SOURCE (splice, pipe2 and accept4 are GNU extensions)"
#endif

#include "CLinuxShims.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <linux/netlink.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

_Static_assert(SO_ORIGINAL_DST == 80, "SO_ORIGINAL_DST changed");
_Static_assert(IP6T_SO_ORIGINAL_DST == 80, "IP6T_SO_ORIGINAL_DST changed");

const unsigned int CLinuxShims_SPLICE_F_MOVE = SPLICE_F_MOVE;
const unsigned int CLinuxShims_SPLICE_F_NONBLOCK = SPLICE_F_NONBLOCK;
const int CLinuxShims_SOCK_NONBLOCK = SOCK_NONBLOCK;
const int CLinuxShims_SOCK_CLOEXEC = SOCK_CLOEXEC;
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
const int CLinuxShims_IP_BIND_ADDRESS_NO_PORT = IP_BIND_ADDRESS_NO_PORT;

// LinuxSys's EpollEvents spells these values out.
_Static_assert(EPOLLIN == 0x001 && EPOLLOUT == 0x004 && EPOLLRDHUP == 0x2000 && EPOLLERR == 0x008 && EPOLLHUP == 0x010
               && EPOLLET == 1u << 31, "epoll event bits differ from EpollEvents");

const uint32_t CLinuxShims_EPOLLIN = EPOLLIN;
const uint32_t CLinuxShims_EPOLLOUT = EPOLLOUT;
const uint32_t CLinuxShims_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t CLinuxShims_EPOLLERR = EPOLLERR;
const uint32_t CLinuxShims_EPOLLHUP = EPOLLHUP;
const uint32_t CLinuxShims_EPOLLET = EPOLLET;
const int CLinuxShims_EFD_NONBLOCK_CLOEXEC = EFD_NONBLOCK | EFD_CLOEXEC;

ssize_t CLinuxShims_splice(int fd_in, int fd_out, size_t len, unsigned int flags) {
    return splice(fd_in, NULL, fd_out, NULL, len, flags);
}

int CLinuxShims_pipe2_nonblock(int fds[2]) {
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

int CLinuxShims_set_pipe_size(int fd, int size) {
    return fcntl(fd, F_SETPIPE_SZ, size);
}

int CLinuxShims_get_pipe_size(int fd) {
    return fcntl(fd, F_GETPIPE_SZ);
}

int CLinuxShims_signalfd_nonblock(const sigset_t *mask) {
    return signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int CLinuxShims_signalfd_read_signal(int fd) {
    struct signalfd_siginfo info;
    ssize_t count = read(fd, &info, sizeof(info));
    if (count == -1) return -1;
    // signalfd(2): a read returns whole siginfo records or fails with EINVAL for a short buffer.
    if (count != (ssize_t)sizeof(info)) {
        errno = EIO;
        return -1;
    }
    return (int)info.ssi_signo;
}

int CLinuxShims_accept4_nonblock(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int CLinuxShims_original_dst_v4(int fd, struct sockaddr_in *out) {
    socklen_t len = sizeof(*out);
    return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, out, &len);
}

int CLinuxShims_original_dst_v6(int fd, struct sockaddr_in6 *out) {
    socklen_t len = sizeof(*out);
    return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, out, &len);
}

int CLinuxShims_errno(void) { return errno; }
void CLinuxShims_set_errno(int value) { errno = value; }

int CLinuxShims_decode_nlmsgerr(const void *message, size_t len, int *error, uint32_t *seq) {
    const struct nlmsghdr *nlh = message;
    if (len < sizeof(*nlh) || nlh->nlmsg_type != NLMSG_ERROR) return -1;
    if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)) || nlh->nlmsg_len > len) return -1;
    const struct nlmsgerr *err = NLMSG_DATA(nlh);
    *error = -err->error;
    *seq = err->msg.nlmsg_seq;
    return 0;
}

void CLinuxShims_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = 0;
    pthread_setname_np(pthread_self(), truncated);
}

int CLinuxShims_malloc_trim(size_t pad) {
    return malloc_trim(pad);
}

const char *CLinuxShims_object_path_of(const void *address) {
    Dl_info info;
    if (dladdr(address, &info) == 0) return NULL;
    return info.dli_fname;
}

int CLinuxShims_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}
