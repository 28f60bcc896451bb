module github.com/tapir-ml/tapir

go 1.24
