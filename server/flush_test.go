package server

import (
	"testing"

	"github.com/miekg/dns"
)

func TestFlushAnswers(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	query := pack(t, question(nameWWW, dns.TypeA))
	s.HandlePacket(t.Context(), query, clientLoopback, false, nil)
	if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); !ok {
		t.Fatal("the answer was not kept: nothing to flush")
	}
	if n := s.FlushAnswers(); n != 1 {
		t.Errorf("FlushAnswers = %d, want 1", n)
	}
	if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); ok {
		t.Error("a flushed answer was still served")
	}
	off, _ := newTestServer(t, Config{AnswerCacheSize: -1})
	if n := off.FlushAnswers(); n != 0 {
		t.Errorf("FlushAnswers without an answer cache = %d", n)
	}
}
