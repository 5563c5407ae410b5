# Turns the numbered migrations (sql/migrations/NNNN_*.sql, in order) into a
# C header: one string per migration, in the array velt_migrations[].
BEGIN { print "/* Generated from sql/migrations by tools/embed_sql.awk. Do not edit. */"
        print "static const char *const velt_migrations[] = {" }
FNR == 1 { if (NR > 1) print "    ,"; printf "    /* %s */\n", FILENAME }
{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "    \"%s\\n\"\n", $0 }
END { print "};" }
