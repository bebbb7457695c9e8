package lxd

// Unverified tells whether the provider waits to check desktop id again (its server's link dropped, or
// it was adopted while its server did not answer).
func (p *Provider) Unverified(id string) bool {
	d, err := p.get(id)
	if err != nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.unverified
}
