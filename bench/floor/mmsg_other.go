//go:build !(linux && (amd64 || arm64))

package main

import "syscall"

func serve(syscall.RawConn) error { return errUnsupported }
