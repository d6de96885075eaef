//go:build !linux

package main

import "os/exec"

func dieWithBench(*exec.Cmd) {}
