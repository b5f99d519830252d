package check

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// KVCommand is a client write as it travels in a log entry: client and op
// identify it (a client numbers its ops 1, 2, ...), so a state machine can
// apply each op at most once even if the log holds it twice.
type KVCommand struct {
	Client uint32
	Op     uint32
	Key    string
	Value  string
}

// kvMagic starts every encoded KVCommand, so a leader's empty no-op or any
// other entry is never mistaken for one.
const kvMagic = 0x6b

// Encode returns the entry data of c.
func (c KVCommand) Encode() []byte {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(c.Key)+len(c.Value))
	b = append(b, kvMagic)
	b = binary.BigEndian.AppendUint32(b, c.Client)
	b = binary.BigEndian.AppendUint32(b, c.Op)
	// The key length is a uvarint: keys of any length survive.
	b = binary.AppendUvarint(b, uint64(len(c.Key)))
	b = append(b, c.Key...)
	b = append(b, c.Value...)
	return b
}

// DecodeKVCommand decodes entry data made by Encode; ok is false for
// anything else.
func DecodeKVCommand(b []byte) (c KVCommand, ok bool) {
	if len(b) < 10 || b[0] != kvMagic {
		return c, false
	}
	c.Client = binary.BigEndian.Uint32(b[1:])
	c.Op = binary.BigEndian.Uint32(b[5:])
	n, k := binary.Uvarint(b[9:])
	rest := b[9:]
	if k <= 0 || n > uint64(len(rest)-k) {
		return c, false
	}
	rest = rest[k:]
	c.Key = string(rest[:n])
	c.Value = string(rest[n:])
	return c, true
}

// DescribeData renders entry data for messages: "noop", a KV command, or
// its length.
func DescribeData(b []byte) string {
	if len(b) == 0 {
		return "noop"
	}
	if c, ok := DecodeKVCommand(b); ok {
		return fmt.Sprintf("put(%s=%s c%d#%d)", c.Key, c.Value, c.Client, c.Op)
	}
	return fmt.Sprintf("%d bytes", len(b))
}

// KVOpKind is the kind of a client operation.
type KVOpKind uint8

// The operations of the KV model.
const (
	KVGet KVOpKind = iota
	KVPut
)

// KVInput is the input of a porcupine operation on the KV model.
type KVInput struct {
	Kind  KVOpKind
	Key   string
	Value string // for KVPut
}

// KVOutput is the output of a porcupine operation: the value read by a
// KVGet ("" if the key is absent); unused for KVPut.
type KVOutput struct {
	Value string
}

// KVModel is a linearizable key-value register per key: Put(k, v) sets k
// to v, Get(k) returns the last value put ("" if none). The history is
// partitioned by key. A put whose outcome is unknown is recorded with
// Return = math.MaxInt64 (it may take effect at any time after its call);
// a get with unknown outcome is left out.
var KVModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(KVInput).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(KVInput)
		if in.Kind == KVPut {
			return true, in.Value
		}
		return output.(KVOutput).Value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(KVInput)
		if in.Kind == KVPut {
			return fmt.Sprintf("put(%s, %q)", in.Key, in.Value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.Key, output.(KVOutput).Value)
	},
}

// CheckKVLinearizable checks a KV history with porcupine. A history that is
// not linearizable is a Violation; so is a check that does not finish
// within timeout (porcupine's "unknown" is a failure, not a pass).
//
// Before checking, puts with unknown outcome (Return = math.MaxInt64) whose
// value no get returned are set aside: such a put can always be linearized
// after every other operation (nothing follows it in real time, and no read
// depends on it), so the history is linearizable if and only if the history
// without it is. This is exact, not an approximation, and it keeps
// porcupine fast when crashes leave many puts unresolved. Values must be
// unique per put for this to hold (the simulator's are).
func CheckKVLinearizable(history []porcupine.Operation, timeout time.Duration) error {
	history = pruneUnobservedUnknownPuts(history)
	res, info := porcupine.CheckOperationsVerbose(KVModel, history, timeout)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Illegal:
		return Failf(LinearizabilityName, "client history of %d ops is not linearizable%s", len(history), describeIllegal(history, info))
	default:
		return Failf(LinearizabilityName, "porcupine could not decide the history of %d ops within %v (result %s); treated as a failure",
			len(history), timeout, res)
	}
}

// describeIllegal names the partition (key) that is not linearizable and
// lists its operations in call order (the last 60 of them).
func describeIllegal(history []porcupine.Operation, _ porcupine.LinearizationInfo) string {
	for _, p := range KVModel.Partition(history) {
		if porcupine.CheckOperations(KVModel, p) {
			continue
		}
		ops := append([]porcupine.Operation(nil), p...)
		sort.SliceStable(ops, func(a, b int) bool { return ops[a].Call < ops[b].Call })
		var sb strings.Builder
		fmt.Fprintf(&sb, "; key %s (%d ops), in call order:", ops[0].Input.(KVInput).Key, len(ops))
		if len(ops) > 60 {
			fmt.Fprintf(&sb, "\n    ... %d earlier ops", len(ops)-60)
			ops = ops[len(ops)-60:]
		}
		for _, op := range ops {
			ret := fmt.Sprint(op.Return)
			if op.Return == math.MaxInt64 {
				ret = "unknown"
			}
			fmt.Fprintf(&sb, "\n    [%d, %s] client %d %s", op.Call, ret, op.ClientId,
				KVModel.DescribeOperation(op.Input, op.Output))
		}
		return sb.String()
	}
	return ""
}

// pruneUnobservedUnknownPuts drops the puts with unknown outcome whose value
// no get returned (see CheckKVLinearizable).
func pruneUnobservedUnknownPuts(history []porcupine.Operation) []porcupine.Operation {
	read := map[string]bool{}
	for _, op := range history {
		in := op.Input.(KVInput)
		if in.Kind == KVGet {
			read[in.Key+"\x00"+op.Output.(KVOutput).Value] = true
		}
	}
	out := make([]porcupine.Operation, 0, len(history))
	for _, op := range history {
		in := op.Input.(KVInput)
		if in.Kind == KVPut && op.Return == math.MaxInt64 && !read[in.Key+"\x00"+in.Value] {
			continue
		}
		out = append(out, op)
	}
	return out
}
