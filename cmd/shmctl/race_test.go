//go:build race

package main

// raceBuild makes TestMain build shmctl with the race detector too.
const raceBuild = true
