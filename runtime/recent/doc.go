// Package recent keeps the latest readings of each device in memory, in a
// bounded ring per device, for the local API and the web console: what a
// device read in the last minutes, and its latest value per metric.
package recent
