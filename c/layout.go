package main

// layout.h, the region's layout for this library's C code, is generated
// from the Go definitions (lru.LayoutFacts) by ./gen; region.h mirrors the
// region's structs in C and is checked against it when it compiles.
// layout_test.go fails while layout.h is stale.

//go:generate go run ./gen -o layout.h
