package broker

import "syscall"

const syscallEADDRINUSE = syscall.EADDRINUSE
