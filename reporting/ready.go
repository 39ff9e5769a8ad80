package reporting

// SetReadyNote adds note()'s text to /readyz's "ready" answer (the
// process's role, e.g. "capturing shop" or "standby for shop"). Safe to
// call while serving.
func (s *Server) SetReadyNote(note func() string) { s.readyNote.Store(&note) }

func (s *Server) readyText() string {
	if n := s.readyNote.Load(); n != nil {
		if t := (*n)(); t != "" {
			return "ready: " + t
		}
	}
	return "ready"
}
