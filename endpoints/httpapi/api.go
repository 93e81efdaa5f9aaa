package httpapi

// routes registers the JSON API and the page (when a daemon backs them).
func (s *Server) routes() {}
