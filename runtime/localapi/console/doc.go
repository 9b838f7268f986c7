// Package console is the daemon's web console: one dependency-free page
// (static/index.html, app.js, style.css, embedded in the binary) that polls
// the local API every 2 s and shows the gateway's status, its devices with
// their latest values and 5-minute sparklines, actuator controls, services,
// the dead letters (replay, drop) and the local MQTT broker. It works
// offline and on a phone.
//
// The page reads the API token from the URL fragment (#token=…, removed
// from the address bar at once and kept in sessionStorage) or from its
// "API token" field, and sends it as a bearer token on every request.
//
// localapi mounts Handler at GET /; the page calls the API with relative
// paths (api/v1/…), so it also works behind a reverse proxy prefix.
package console
