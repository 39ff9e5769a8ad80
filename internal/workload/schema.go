package workload

import (
	"context"
	"database/sql"
	"fmt"
)

// Schema is the DDL of the sample shop database, in order.
var Schema = []string{
	"CREATE DATABASE IF NOT EXISTS %[1]s",
	`CREATE TABLE IF NOT EXISTS %[1]s.customers (
		id BIGINT NOT NULL PRIMARY KEY,
		name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL,
		country CHAR(2) NULL,
		created_at DATETIME(3) NOT NULL
	) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS %[1]s.orders (
		id BIGINT NOT NULL PRIMARY KEY,
		customer_id BIGINT NOT NULL,
		status ENUM('new','paid','shipped','cancelled') NOT NULL,
		amount DECIMAL(12,2) NULL,
		qty INT NOT NULL,
		discount DOUBLE NULL,
		created_at DATETIME(6) NOT NULL,
		note VARCHAR(200) CHARACTER SET utf8mb4 NULL,
		KEY (customer_id)
	) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS %[1]s.alltypes (
		id BIGINT NOT NULL PRIMARY KEY,
		ti TINYINT NULL, tiu TINYINT UNSIGNED NULL,
		si SMALLINT NULL, siu SMALLINT UNSIGNED NULL,
		mi MEDIUMINT NULL, miu MEDIUMINT UNSIGNED NULL,
		i INT NULL, iu INT UNSIGNED NULL,
		bi BIGINT NULL, biu BIGINT UNSIGNED NULL,
		dc DECIMAL(20,6) NULL, dw DECIMAL(65,30) NULL,
		f FLOAT NULL, d DOUBLE NULL,
		dt DATE NULL, dtm DATETIME NULL, dtm6 DATETIME(6) NULL, ts TIMESTAMP(3) NULL, tm TIME(2) NULL, yr YEAR NULL,
		c CHAR(10) CHARACTER SET utf8mb4 NULL, vc VARCHAR(64) CHARACTER SET utf8mb4 NULL, tx TEXT CHARACTER SET utf8mb4 NULL,
		bn BINARY(4) NULL, vb VARBINARY(16) NULL, bl BLOB NULL,
		en ENUM('red','green','blue') NULL, st SET('a','b','c','d') NULL, bt BIT(10) NULL,
		js JSON NULL, geo GEOMETRY NULL,
		grp INT NOT NULL DEFAULT 0
	) ENGINE=InnoDB`,
}

// CreateSchema creates database db with the shop tables (idempotent).
func CreateSchema(ctx context.Context, conn *sql.DB, db string) error {
	for _, stmt := range Schema {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(stmt, db)); err != nil {
			return fmt.Errorf("creating shop schema: %w", err)
		}
	}
	return nil
}

// Views returns view declarations (YAML) over the shop schema in db that
// cover every measure, transform and where form, plus mirrors.
func Views(db string) string {
	return fmt.Sprintf(`
  - name: revenue_by_day
    from: %[1]s.orders
    where: "status <> 'cancelled' AND amount > 0"
    group_by: ["day(created_at) AS day", "status"]
    measures: ["count() AS orders", "sum(amount) AS revenue", "avg(amount) AS avg_amount"]
  - name: orders_by_customer
    from: %[1]s.orders
    group_by: [customer_id]
    measures: ["count()", "sum(qty)", "count(amount)", "sum(amount)", "sum(discount)", "avg(qty)"]
  - name: qty_buckets
    from: %[1]s.orders
    where: "note IS NOT NULL OR status IN ('paid', 'shipped')"
    group_by: ["truncate(5, qty) AS qty_bucket", "month(created_at)"]
    measures: ["count()", "avg(discount)"]
  - name: types_by_color
    from: %[1]s.alltypes
    group_by: [en, grp]
    measures: ["count()", "sum(biu)", "sum(dw)", "sum(bi)", "sum(d)", "sum(f)", "avg(dc)", "count(js)", "sum(iu)"]
  - name: customers
    from: %[1]s.customers
    mirror: true
  - name: orders
    from: %[1]s.orders
    mirror: true
    columns: [id, customer_id, status, amount, created_at]
  - name: alltypes
    from: %[1]s.alltypes
    mirror: true
`, db)
}
