package server

import (
	"strings"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// infraRoute builds one route of the infrastructure surface from the seed's method and path ("POST
// /v1/user.login"); deskhub serves the seed's /v1/… under /api/v1/…. Extra methods (beyond the seed's)
// follow in also.
func infraRoute(seed string, access httpapi.Access, tag, summary string, op httpapi.Operation, also ...string) httpapi.Route {
	method, path, ok := strings.Cut(seed, " ")
	if !ok || !strings.HasPrefix(path, "/v1/") {
		panic("server: malformed infra seed " + seed)
	}
	return httpapi.Route{
		Surface: httpapi.Infra,
		Methods: append([]string{method}, also...),
		Path:    "/api" + path,
		Summary: summary,
		Access:  access,
		Op:      op,
		Tag:     tag,
		Seed:    seed,
	}
}

// infraExtra builds a POST route of the infrastructure surface that the seed does not have.
func infraExtra(path string, access httpapi.Access, tag, summary string, op httpapi.Operation) httpapi.Route {
	return httpapi.Route{Surface: httpapi.Infra, Methods: []string{"POST"}, Path: path, Summary: summary, Access: access, Op: op, Tag: tag}
}

// infraRoutes is the infrastructure surface (ui-vmm seed), in the seed's order. Summaries are the
// seed's, with its copy-paste slips fixed.
func (s *Server) infraRoutes() []httpapi.Route {
	const pub, usr, adm = httpapi.Public, httpapi.User, httpapi.Admin
	return []httpapi.Route{
		infraRoute("POST /v1/certificate.list", usr, "certificate", "Displays a list of certificates on the server",
			httpapi.Op(serverResources(vmm.TypeCertificate, func(r *vmm.CertificateListRequest) (vmm.Provider, int64) { return r.Provider, int64(r.ServerID) }, s.infra.ListCertificates))),
		infraRoute("POST /v1/certificate.revoke", usr, "certificate", "Revokes the specified certificate on the server",
			httpapi.Op(s.certificateRevoke)),
		infraRoute("POST /v1/config.get", pub, "config", "Displays some options from the config file",
			httpapi.Op(s.configGet)),
		infraRoute("POST /v1/event.auth", usr, "event", "Authorizes the specified stream, if it exists",
			httpapi.Op(s.eventAuth)),
		// A browser's EventSource can only GET, so event.subscribe takes GET (stream in the query) too.
		infraRoute("POST /v1/event.subscribe", pub, "event", "Establishes a server-sent event stream for data transfer",
			httpapi.RawOp[vmm.EventSubscribeRequest, vmm.Event](s.eventSubscribe), "GET"),
		infraRoute("POST /v1/health.alive", pub, "health", "Returns an ok status if the instance is alive and handles HTTP requests",
			httpapi.Op(s.healthAlive)),
		infraRoute("POST /v1/health.ready", pub, "health", "Returns an ok status if the instance and its store are ready to handle requests",
			httpapi.Op(s.healthReady)),
		infraRoute("POST /v1/image.delete", usr, "image", "Removes the specified image on the server",
			httpapi.Op(s.imageDelete)),
		infraRoute("POST /v1/image.list", usr, "image", "Displays a list of images on the server (with image_server_host: the images that image server offers)",
			httpapi.Op(s.imageList)),
		infraRoute("POST /v1/image.serverList", usr, "image", "Displays the image servers instances can be created from (deskhub's own first)",
			httpapi.Op(s.imageServerList)),
		infraRoute("POST /v1/instance.action", usr, "instance", "Will perform an action with the instance, for example stop-force",
			httpapi.Op(s.instanceAction)),
		infraRoute("POST /v1/instance.add", usr, "instance", "Will create an instance on the server",
			httpapi.Op(s.instanceAdd)),
		infraRoute("POST /v1/instance.get", usr, "instance", "Will display information about an instance available to the user",
			httpapi.Op(s.instanceGet)),
		infraRoute("POST /v1/instance.list", usr, "instance", "Will display information about the instances available to the user",
			httpapi.Op(s.instanceList)),
		infraRoute("POST /v1/network.list", usr, "network", "Displays a list of networks on the server",
			httpapi.Op(serverResources(vmm.TypeNetwork, func(r *vmm.NetworkListRequest) (vmm.Provider, int64) { return r.Provider, int64(r.ServerID) }, s.infra.ListNetworks))),
		infraRoute("POST /v1/pool.list", usr, "pool", "Displays a list of pools on the server",
			httpapi.Op(serverResources(vmm.TypePool, func(r *vmm.PoolListRequest) (vmm.Provider, int64) { return r.Provider, int64(r.ServerID) }, s.infra.ListPools))),
		infraRoute("POST /v1/profile.delete", usr, "profile", "Removes the specified profile on the server",
			httpapi.Op(s.profileDelete)),
		infraRoute("POST /v1/profile.list", usr, "profile", "Displays a list of profiles on the server",
			httpapi.Op(serverResources(vmm.TypeProfile, func(r *vmm.ProfileListRequest) (vmm.Provider, int64) { return r.Provider, int64(r.ServerID) }, s.infra.ListProfiles))),
		infraRoute("POST /v1/profile.update", usr, "profile", "Updates (and optionally renames) the specified profile on the server",
			httpapi.Op(s.profileUpdate)),
		infraRoute("POST /v1/server.add", usr, "server", "Will add the server to the database",
			httpapi.Op(s.serverAdd)),
		infraExtra("/api/v1/server.delete", usr, "server", "Forgets the server and withdraws deskhub's certificate from it (deskhub extension)",
			httpapi.Op(s.serverDelete)),
		infraRoute("POST /v1/server.get", usr, "server", "Will display information about a server available to the user",
			httpapi.Op(s.serverGet)),
		infraRoute("POST /v1/server.list", usr, "server", "Will display information about the servers available to the user",
			httpapi.Op(s.serverList)),
		infraRoute("POST /v1/server.verify", usr, "server", "Will check the connection to the server",
			httpapi.Op(s.serverVerify)),
		// Publishing images is for administrators: every LXD server that uses deskhub's image server,
		// and so every user, gets what is added.
		infraRoute("POST /v1/simplestream.add", adm, "simplestream", "It will add the product to the simplestream server",
			httpapi.Op(s.simplestreamAdd)),
		infraRoute("GET /v1/simplestream.images", pub, "simplestream", "Displays image files on a simplestream server",
			httpapi.Op(s.simplestreamImages)),
		infraRoute("GET /v1/simplestream.list", pub, "simplestream", "Displays a list of images on the simplestream server",
			httpapi.Op(s.simplestreamList)),
		s.uploadRoute(infraRoute("POST /v1/simplestream.upload", adm, "simplestream", "It will upload image files to simplestream server (multipart/form-data: the payload part, then the file part, streamed; or JSON with the file base64, up to 64 MiB)",
			httpapi.FormOp[vmm.SimplestreamUploadRequest, vmm.SimplestreamUploadForm, jsonapi.One[vmm.SimplestreamImageAttributes]](s.simplestreamUpload))),
		infraRoute("POST /v1/ssh-key.add", usr, "ssh-key", "It will add the user's ssh key to the database, after which this key will be added to new instances",
			httpapi.Op(s.sshKeyAdd)),
		infraRoute("POST /v1/ssh-key.delete", usr, "ssh-key", "Will remove the user's ssh-key from the database",
			httpapi.Op(s.sshKeyDelete)),
		infraRoute("POST /v1/ssh-key.get", usr, "ssh-key", "Displays a list of user ssh-keys",
			httpapi.Op(s.sshKeyGet)),
		infraRoute("POST /v1/token.create", usr, "token", "Generates a token for working with the api. It is possible to revoke all other tokens with the system.api type",
			httpapi.Op(s.tokenCreate)),
		infraRoute("POST /v1/token.get", usr, "token", "Displays a list of user tokens",
			httpapi.Op(s.tokenGet)),
		infraRoute("POST /v1/token.revoke", usr, "token", "Revokes the specified user token",
			httpapi.Op(s.tokenRevoke)),
		infraRoute("POST /v1/user.assertionGet", pub, "user", "Starts a WebAuthn login: answers the assertion options for the user",
			httpapi.Op(s.userAssertionGet)),
		infraRoute("POST /v1/user.assertionVerify", pub, "user", "Finishes a WebAuthn login: verifies the assertion and returns a token",
			httpapi.Op(s.userAssertionVerify)),
		infraRoute("POST /v1/user.credentialDelete", usr, "user", "Removes the user's WebAuthn credentials",
			httpapi.Op(s.userCredentialDelete)),
		infraRoute("POST /v1/user.credentialGet", usr, "user", "Displays a list of the user's WebAuthn credentials",
			httpapi.Op(s.userCredentialGet)),
		infraRoute("POST /v1/user.credentialMake", pub, "user", "Registers a WebAuthn credential (optionally with a new account)",
			httpapi.Op(s.userCredentialMake)),
		infraExtra("/api/v1/user.cookie", pub, "user", "Keeps a login's token as the web app's HttpOnly, SameSite=Strict session cookie (deskhub extension)",
			httpapi.Op(s.userCookie)),
		infraRoute("POST /v1/user.emailChange", usr, "user", "Changes the user's mail address",
			httpapi.Op(s.userEmailChange)),
		infraRoute("POST /v1/user.get", usr, "user", "Will return the current user",
			httpapi.Op(s.userGet)),
		infraRoute("POST /v1/user.login", pub, "user", "Will authorize the user and return his token",
			httpapi.Op(s.userLogin)),
		infraRoute("POST /v1/user.logout", usr, "user", "Deactivates the current token",
			httpapi.Op(s.userLogout)),
		infraRoute("POST /v1/user.passwordChange", usr, "user", "Changes the user's password",
			httpapi.Op(s.userPasswordChange)),
		infraRoute("POST /v1/user.passwordLock", usr, "user", "Locks or unlocks password changes",
			httpapi.Op(s.userPasswordLock)),
		infraRoute("POST /v1/user.recovery", pub, "user", "Password recovery",
			httpapi.Op(s.userRecovery)),
		infraRoute("POST /v1/user.register", pub, "user", "User registration",
			httpapi.Op(s.userRegister)),
		infraRoute("POST /v1/volume.list", usr, "volume", "Displays a list of volumes on the server",
			httpapi.Op(serverResources(vmm.TypeVolume, func(r *vmm.VolumeListRequest) (vmm.Provider, int64) { return r.Provider, int64(r.ServerID) }, s.infra.ListVolumes))),
	}
}
