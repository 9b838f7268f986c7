// Package lasterr records a part's most recent error together with the time
// it happened and the time the part recovered from it, so status, logs and
// the API can tell an operator a current fault from an old one.
package lasterr
