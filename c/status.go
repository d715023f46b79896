package main

import (
	"errors"
	"os"
	"syscall"

	"github.com/shmlru/shmlru/lru"
)

// Status codes of the C ABI. They are defined here once; c/shmlru.h and the
// Lua binding's cdef repeat them, and pin_test.go holds the three together.
const (
	statusOK              = 0
	statusNotFound        = -1
	statusExists          = -2
	statusNoMemory        = -3
	statusNotNumber       = -4
	statusNotList         = -5
	statusVersionMismatch = -6
	statusBufferTooSmall  = -7
	statusEmptyKey        = -8
	statusKeyTooLarge     = -9
	statusValueTooLarge   = -10
	statusBadValue        = -11
	statusBadArgument     = -12
	statusBadOptions      = -13
	statusBadHandle       = -14
	statusClosed          = -15
	statusNotRegion       = -16
	statusIncompatible    = -17
	statusNoSpace         = -18
	statusNoSlot          = -19
	statusCorrupt         = -20
	statusNotExist        = -21
	statusPermission      = -22
	statusTooManyHandles  = -23
	statusSystem          = -24
	statusInternal        = -25
	statusForked          = -26
	statusBadTTL          = -27
	statusLoadLost        = -28
	statusNotInStep       = -29
	statusUntrusted       = -30
	statusBusy            = -31
)

// status describes one code: its C name, the errors that map to it, the
// message shmlru_strerror returns, and the string the Lua binding returns
// as err (ngx.shared.DICT's where it has one).
type status struct {
	code int
	name string
	errs []error
	msg  string
	lua  string
}

// statuses is the table of every code, in the order errors are matched.
var statuses = []status{
	{statusOK, "SHMLRU_OK", nil, "success", ""},
	{statusNotFound, "SHMLRU_NOT_FOUND", []error{lru.ErrNotFound}, "not found: no live entry at the key", "not found"},
	{statusExists, "SHMLRU_EXISTS", []error{lru.ErrExists}, "exists: a live entry is already at the key", "exists"},
	{statusNoMemory, "SHMLRU_NO_MEMORY", []error{lru.ErrNoMemory}, "no memory: no room without evicting live entries", "no memory"},
	{statusNotNumber, "SHMLRU_NOT_NUMBER", []error{lru.ErrNotNumber}, "not a number: the value at the key is not a number", "not a number"},
	{statusNotList, "SHMLRU_NOT_LIST", []error{lru.ErrNotList}, "value not a list: the value at the key is not a list", "value not a list"},
	{statusVersionMismatch, "SHMLRU_VERSION_MISMATCH", []error{lru.ErrVersionMismatch}, "version mismatch: the entry was written since its version was read", "version mismatch"},
	{statusBufferTooSmall, "SHMLRU_BUFFER_TOO_SMALL", []error{lru.ErrBufferTooSmall}, "buffer too small: grow it to the size returned and retry", "buffer too small"},
	{statusEmptyKey, "SHMLRU_EMPTY_KEY", []error{lru.ErrEmptyKey}, "empty key: keys must be at least one byte", "empty key"},
	{statusKeyTooLarge, "SHMLRU_KEY_TOO_LARGE", []error{lru.ErrKeyTooLarge}, "key too large: longer than the cache's max_key; hash long keys down first", "key too long"},
	{statusValueTooLarge, "SHMLRU_VALUE_TOO_LARGE", []error{lru.ErrValueTooLarge}, "value too large: longer than the cache's max_value", "value too large"},
	{statusBadValue, "SHMLRU_BAD_VALUE", []error{lru.ErrBadValue}, "bad value: the value does not match its type, or the type is invalid", "bad value type"},
	{statusBadArgument, "SHMLRU_BAD_ARGUMENT", []error{lru.ErrFault, lru.ErrBadTicket}, "bad argument: a NULL or invalid pointer (one that does not cover its length), or a value out of range; nothing was stored", "bad argument"},
	{statusBadOptions, "SHMLRU_BAD_OPTIONS", []error{lru.ErrBadOptions}, "bad options: an option is out of range", "bad options"},
	{statusBadHandle, "SHMLRU_BAD_HANDLE", nil, "bad handle: not a handle shmlru_open returned", "bad handle"},
	{statusClosed, "SHMLRU_CLOSED", []error{lru.ErrClosed}, "closed: the cache handle was closed", "closed"},
	{statusNotRegion, "SHMLRU_NOT_REGION", []error{lru.ErrNotRegion}, "not a region: the file is not a shmlru region (or is a directory)", "not a shmlru region"},
	{statusIncompatible, "SHMLRU_INCOMPATIBLE", []error{lru.ErrVersion, lru.ErrGeometry}, "incompatible: the region has another layout version or geometry", "incompatible region"},
	{statusNoSpace, "SHMLRU_NO_SPACE", []error{lru.ErrNoSpace}, "no space: the file system could not reserve the region's size", "no space"},
	{statusNoSlot, "SHMLRU_NO_SLOT", []error{lru.ErrNoSlot}, "no slot: every process slot of the region is in use", "no process slot"},
	{statusCorrupt, "SHMLRU_CORRUPT", []error{lru.ErrCorrupt}, "corrupt: the region is inconsistent, or its file shrank underneath the mapping (the error text says which, and what was done)", "corrupt"},
	{statusNotExist, "SHMLRU_NOT_EXIST", []error{os.ErrNotExist}, "does not exist: no region at the path", "no such region"},
	{statusPermission, "SHMLRU_PERMISSION", []error{os.ErrPermission}, "permission denied: the file's permissions forbid access", "permission denied"},
	{statusTooManyHandles, "SHMLRU_TOO_MANY_HANDLES", nil, "too many handles: close caches this process no longer uses", "too many handles"},
	{statusSystem, "SHMLRU_SYSTEM", nil, "system error: the operating system refused", "system error"},
	{statusInternal, "SHMLRU_INTERNAL", nil, "internal error in shmlru; please report it", "internal error"},
	{statusForked, "SHMLRU_FORKED", nil, "forked: this process was forked after the library was loaded; the Go runtime does not survive fork, so load the library in the process that uses it", "forked"},
	{statusBadTTL, "SHMLRU_BAD_TTL", []error{lru.ErrBadTTL}, "bad TTL: negative; use 0 for an entry that never expires", "bad ttl"},
	{statusLoadLost, "SHMLRU_LOAD_LOST", []error{lru.ErrLoadLost}, "load lost: the load's lease ran out and another caller took it over; nothing was written, and what the new loader writes stands", "load lost"},
	{statusNotInStep, "SHMLRU_NOT_IN_STEP", []error{lru.ErrNotInStep}, "not in step: the cache is not known to be in step with its store (no tracking agent, or its invalidation stream is late); read the store and do not cache what it says", "not in step"},
	{statusUntrusted, "SHMLRU_UNTRUSTED", []error{lru.ErrUntrusted}, "untrusted: the file at the path is a symbolic link, or is owned or writable by someone the caller does not trust (its mode, or the shmlru_options mode); the error text names the owner and mode and says how to share a region on purpose", "untrusted region"},
	{statusBusy, "SHMLRU_BUSY", []error{lru.ErrBusy}, "busy: the region is not ready and another process held its creation lock for longer than opening waits; the error text names it when the system tells", "region busy"},
}

// codeOf maps an error from lru or shm to a status code. The common
// outcomes are compared first, without walking the table.
func codeOf(err error) int {
	switch err {
	case nil:
		return statusOK
	case lru.ErrNotFound:
		return statusNotFound
	case lru.ErrExists:
		return statusExists
	}
	for i := range statuses {
		for _, e := range statuses[i].errs {
			if errors.Is(err, e) {
				return statuses[i].code
			}
		}
	}
	var errno syscall.Errno
	var pe *os.PathError
	if errors.As(err, &errno) || errors.As(err, &pe) {
		return statusSystem
	}
	return statusInternal
}
