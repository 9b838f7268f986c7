// Package budget keeps service processes inside resource budgets: memory,
// CPU and a task count. The supervisor creates one Manager at start-up (New),
// makes a service's group with Prepare before it starts the process (whose
// exec shim joins it by itself, from Group.Join, before the service runs),
// then calls Group.Attach with the pid; Apply(name, pid, budget) does both
// for a process already running. It asks the Group for Stats and OOMKilled
// when the service exits, and calls Close once it has reaped the process.
//
// # Modes
//
// New detects the best mode (Detect reports it without changing anything)
// and logs it; when cgroups are unusable it falls back to ModeRlimit with a
// warning that says what is missing and how to fix it.
//
//	mode      memory                          cpu                      pids      OOM known from
//	cgroup2   memory.max, memory.swap.max=0,  cpu.max                  pids.max  memory.events oom_kill
//	          memory.oom.group=1
//	cgroup1   memory.limit_in_bytes,          cpu.cfs_quota_us /       pids.max  memory.oom_control oom_kill
//	          memsw at the same limit         cfs_period_us
//	          (or swappiness 0 without memsw)
//	rlimit    RSS watchdog (SIGKILL) and an   not enforced             not       the watchdog's own kill
//	          RLIMIT_DATA backstop                                     enforced
//
// A hybrid host (v1 controllers plus an empty v2 hierarchy) uses cgroup1.
// Stock Raspberry Pi OS keeps the memory controller off; Detect then says to
// add cgroup_enable=memory cgroup_memory=1 to /boot/firmware/cmdline.txt.
// Budget fields a mode cannot enforce are logged as warnings at Apply and
// listed by Group.Unenforced so status can show them.
//
// # Where the groups live
//
// Groups are created below the daemon's own cgroup (from /proc/self/cgroup),
// in the sub-group Config.Parent ("edged-services"): <own>/edged-services/<name>
// in each v1 controller, or in the v2 hierarchy. Run edged as a systemd
// service with Delegate=yes so that systemd leaves that subtree alone. At New,
// every group already under Parent is from a previous run (a daemon killed
// with SIGKILL leaves its services running there): its processes are killed
// and the groups removed.
//
// cgroup v2 forbids a cgroup that holds processes from giving controllers to
// its children ("no internal processes"), and systemd starts the daemon in
// the very cgroup it delegates. So on cgroup v2, when enabling controllers in
// the daemon's own cgroup fails with EBUSY and the daemon is the only process
// there, New moves the daemon into the leaf <own>/edged-services/daemon (the
// name "daemon" is reserved) and tries again. When other processes share the
// cgroup New does not move them: it fails (or, in auto mode, falls back to
// rlimits) naming them. systemd 254's DelegateSubgroup= would do the move for
// us; Bookworm ships systemd 252.
//
// The cgroup1 and cgroup2 packages of github.com/containerd/cgroups/v3 do
// the file work. cgroup v2 groups are loaded, not made with
// cgroup2.NewManager, which writes cgroup.subtree_control in every ancestor
// up to the mount root, outside the delegated subtree; and they are emptied
// with cgroup.kill, not Manager.Kill, whose fallback for old kernels waits
// for (reaps) the killed processes and would steal their exit status from
// the supervisor.
//
// # Without cgroups
//
// RLIMIT_AS cannot hold a Go service: the Go runtime reserves over 1 GiB of
// address space before main (a 256 MiB RLIMIT_AS fails with "failed to
// reserve page summary memory"). RLIMIT_DATA counts only private writable
// mappings, but a Go program already has ~40 MiB of them at start, so a limit
// at the budget kills it with a fraction of the budget in use ("fatal error:
// runtime: out of memory", exit 2, which nobody could tell from a crash).
// The budget is therefore enforced by a watchdog that reads VmRSS from
// /proc/<pid>/status every 250 ms and SIGKILLs the service past the budget,
// recording an OOM kill; RLIMIT_DATA is set to 2×budget+64 MiB only as a
// backstop against a runaway allocation between two samples. A service that
// hits the backstop dies of ENOMEM and is not reported as oom. The watchdog
// holds a pidfd, so a reused pid is never sampled or killed. RLIMIT_NPROC
// counts all processes of the user (and does not bind root), and no rlimit
// caps a CPU share, so pids and cpu budgets are not enforced in this mode.
//
// # Numbers
//
// Under cgroups Stats.RSS and PeakRSS are the memory charged to the group
// (anonymous memory, page cache, kernel memory): what the limit is enforced
// against. Memory a process touched before it joined stays charged to the
// daemon's cgroup: hence Prepare, and a process that joins by itself. Pids counts tasks, threads
// included: a Go service needs about 8 for its runtime.
package budget
