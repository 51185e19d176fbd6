package server

// FlushAnswers drops every ready-to-send answer kept for hot questions
// (see answers.go) and returns how many it dropped. Call it after changing
// the engine's cache other than through answers (a flush, a changed trust
// anchor): the kept answers would outlive what they were packed from
// until their TTLs ran out.
func (s *Server) FlushAnswers() int {
	c := s.answers
	if c == nil {
		return 0
	}
	return c.flush()
}
