module github.com/shmlru/shmlru/near

go 1.26.8

require (
	github.com/redis/rueidis v1.0.76
	github.com/shmlru/shmlru v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/edsrzf/mmap-go v1.2.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/shmlru/shmlru => ../
