module edged

go 1.26.0
