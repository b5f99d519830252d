package server

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	cli := c.client()
	ctx := ctxT(t)
	put, err := cli.Put(ctx, "a", "1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("put header %v", put.Header)
	for i := range c.members {
		resp, err := c.client(i).Get(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("m%d: %v %v", i, resp.Header, resp.Kvs)
	}
}
