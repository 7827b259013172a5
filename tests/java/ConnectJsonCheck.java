// Kafka Connect's own JsonConverter on the other end of Sluice's topics
// (design.md §6). Compiled and run by tests/suite/connect_compat.rs against
// the Kafka jars that scripts/services.sh installs.
//
//   read value|key <topic>   stdin: one message a line (kcat -f '%s\n' or
//                            '%k\n'; an empty line is a null message). Prints,
//                            per message, one line of canonical JSON:
//                            {"schema": <schema>, "value": <value>}.
//                            On a conversion error prints "ERROR ..." and
//                            exits 2.
//   write <topic>            Prints messages JsonConverter writes for a Struct
//                            covering every Connect type, one a line, as
//                            "<key>\t<value>" (an empty value is a tombstone).
//   write-debezium <topic>   The same for Debezium change events (c, c, u, d,
//                            tombstone, c) built as Connect Structs in
//                            Debezium's MySQL shape.
//
// Canonical rendering: a schema is {"type": "INT32", "optional": false} plus
// "name", "version", "doc", "parameters", "default" when set, "fields" (an
// ordered list of {"field": name, "schema": ...}) for structs, "items" for
// arrays, "keys"/"values" for maps. Values: Struct as an object by field;
// BigDecimal as toPlainString(); java.util.Date as epoch millis; byte[] and
// ByteBuffer as base64; numbers, booleans and strings as themselves.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Date;
import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Time;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.json.JsonConverter;

public final class ConnectJsonCheck {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (args.length == 3 && args[0].equals("read")) {
            boolean isKey = args[1].equals("key");
            if (!isKey && !args[1].equals("value")) {
                usage();
            }
            System.exit(read(out, converter(isKey, "BASE64"), args[2]));
        } else if (args.length == 2 && args[0].equals("write")) {
            write(out, args[1]);
        } else if (args.length == 2 && args[0].equals("write-debezium")) {
            writeDebezium(out, args[1]);
        } else {
            usage();
        }
    }

    private static void usage() {
        System.err.println(
                "usage: ConnectJsonCheck read value|key <topic> | write <topic>"
                        + " | write-debezium <topic>");
        System.exit(64);
    }

    /** JsonConverter with schemas.enable=true, as Kafka Connect configures it. */
    private static JsonConverter converter(boolean isKey, String decimalFormat) {
        JsonConverter c = new JsonConverter();
        Map<String, Object> config = new HashMap<>();
        config.put("schemas.enable", "true");
        config.put("decimal.format", decimalFormat);
        c.configure(config, isKey);
        return c;
    }

    // ---- read ---------------------------------------------------------------

    private static int read(PrintStream out, JsonConverter converter, String topic)
            throws Exception {
        BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        int n = 0;
        while ((line = in.readLine()) != null) {
            n++;
            byte[] bytes = line.isEmpty() ? null : line.getBytes(StandardCharsets.UTF_8);
            SchemaAndValue sv;
            try {
                sv = converter.toConnectData(topic, bytes);
            } catch (RuntimeException e) {
                out.println("ERROR message " + n + ": " + e);
                for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                    out.println("ERROR caused by: " + c);
                }
                System.err.println("message " + n + " bytes: " + line);
                e.printStackTrace();
                return 2;
            }
            ObjectNode o = NODES.objectNode();
            o.set("schema", schema(sv.schema()));
            o.set("value", value(sv.value()));
            out.println(MAPPER.writeValueAsString(o));
        }
        return 0;
    }

    private static JsonNode schema(Schema s) {
        if (s == null) {
            return NODES.nullNode();
        }
        ObjectNode o = NODES.objectNode();
        o.put("type", s.type().name());
        o.put("optional", s.isOptional());
        if (s.name() != null) {
            o.put("name", s.name());
        }
        if (s.version() != null) {
            o.put("version", s.version());
        }
        if (s.doc() != null) {
            o.put("doc", s.doc());
        }
        if (s.parameters() != null && !s.parameters().isEmpty()) {
            ObjectNode p = o.putObject("parameters");
            s.parameters().forEach(p::put);
        }
        if (s.defaultValue() != null) {
            o.set("default", value(s.defaultValue()));
        }
        switch (s.type()) {
            case STRUCT:
                ArrayNode fields = o.putArray("fields");
                for (Field f : s.fields()) {
                    ObjectNode fo = fields.addObject();
                    fo.put("field", f.name());
                    fo.set("schema", schema(f.schema()));
                }
                break;
            case ARRAY:
                o.set("items", schema(s.valueSchema()));
                break;
            case MAP:
                o.set("keys", schema(s.keySchema()));
                o.set("values", schema(s.valueSchema()));
                break;
            default:
                break;
        }
        return o;
    }

    private static JsonNode value(Object v) {
        if (v == null) {
            return NODES.nullNode();
        } else if (v instanceof Struct) {
            Struct st = (Struct) v;
            ObjectNode o = NODES.objectNode();
            for (Field f : st.schema().fields()) {
                o.set(f.name(), value(st.get(f)));
            }
            return o;
        } else if (v instanceof BigDecimal) {
            return NODES.textNode(((BigDecimal) v).toPlainString());
        } else if (v instanceof java.util.Date) {
            return NODES.numberNode(((java.util.Date) v).getTime());
        } else if (v instanceof byte[]) {
            return NODES.textNode(Base64.getEncoder().encodeToString((byte[]) v));
        } else if (v instanceof ByteBuffer) {
            ByteBuffer b = ((ByteBuffer) v).duplicate();
            byte[] bytes = new byte[b.remaining()];
            b.get(bytes);
            return NODES.textNode(Base64.getEncoder().encodeToString(bytes));
        } else if (v instanceof Byte) {
            return NODES.numberNode((Byte) v);
        } else if (v instanceof Short) {
            return NODES.numberNode((Short) v);
        } else if (v instanceof Integer) {
            return NODES.numberNode((Integer) v);
        } else if (v instanceof Long) {
            return NODES.numberNode((Long) v);
        } else if (v instanceof Float) {
            return NODES.numberNode((Float) v);
        } else if (v instanceof Double) {
            return NODES.numberNode((Double) v);
        } else if (v instanceof Boolean) {
            return NODES.booleanNode((Boolean) v);
        } else if (v instanceof String) {
            return NODES.textNode((String) v);
        } else if (v instanceof List) {
            ArrayNode a = NODES.arrayNode();
            for (Object e : (List<?>) v) {
                a.add(value(e));
            }
            return a;
        } else if (v instanceof Map) {
            // Entries as [key, value] pairs: keys need not be strings.
            ArrayNode a = NODES.arrayNode();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                ArrayNode pair = a.addArray();
                pair.add(value(e.getKey()));
                pair.add(value(e.getValue()));
            }
            return a;
        }
        throw new IllegalStateException("unexpected value class " + v.getClass());
    }

    // ---- write --------------------------------------------------------------

    static final Schema KEY =
            SchemaBuilder.struct().field("id", Schema.INT32_SCHEMA).build();

    static final Schema VALUE =
            SchemaBuilder.struct()
                    .name("com.example.Everything")
                    .version(3)
                    .doc("every Connect type")
                    .field("id", Schema.INT32_SCHEMA)
                    .field("i8", Schema.OPTIONAL_INT8_SCHEMA)
                    .field("i16", Schema.OPTIONAL_INT16_SCHEMA)
                    .field("i32", Schema.OPTIONAL_INT32_SCHEMA)
                    .field("i64", Schema.OPTIONAL_INT64_SCHEMA)
                    .field("f32", Schema.OPTIONAL_FLOAT32_SCHEMA)
                    .field("f64", Schema.OPTIONAL_FLOAT64_SCHEMA)
                    .field("flag", Schema.OPTIONAL_BOOLEAN_SCHEMA)
                    .field("s", Schema.OPTIONAL_STRING_SCHEMA)
                    .field("b", Schema.OPTIONAL_BYTES_SCHEMA)
                    .field("amount", Decimal.builder(2).optional().build())
                    .field("day", Date.builder().optional().build())
                    .field("tod", Time.builder().optional().build())
                    .field("ts", Timestamp.builder().optional().build())
                    .field("a`b", Schema.OPTIONAL_STRING_SCHEMA)
                    .field("note", SchemaBuilder.string().optional().defaultValue("n/a").build())
                    .field("req", Schema.STRING_SCHEMA)
                    .field("cnt", SchemaBuilder.int32().optional().defaultValue(7).build())
                    .field("price",
                            Decimal.builder(2).optional()
                                    .defaultValue(new BigDecimal("1.25")).build())
                    .build();

    private static final long DAY_MS = 86_400_000L;

    /** Rows 1-3 (decimals as base64 bytes) and row 4 (decimal.format=NUMERIC). */
    static List<Struct> rows() {
        List<Struct> rows = new ArrayList<>();
        rows.add(new Struct(VALUE)
                .put("id", 1)
                .put("i8", (byte) -128)
                .put("i16", (short) -32768)
                .put("i32", Integer.MIN_VALUE)
                .put("i64", Long.MIN_VALUE)
                .put("f32", 1.5f)
                .put("f64", 3.141592653589793)
                .put("flag", true)
                .put("s", "h\u00e9llo \"q\" \\ \ud83d\ude00 'x'\n\ttab")
                .put("b", new byte[] {0x00, (byte) 0xff, 0x10, 0x27, 0x5c})
                .put("amount", new BigDecimal("-12345678.90"))
                .put("day", new java.util.Date(-165 * DAY_MS)) // 1969-07-20
                .put("tod", new java.util.Date(47_655_678L)) // 13:14:15.678
                .put("ts", new java.util.Date(1_660_592_867_123L)) // 2022-08-15T19:47:47.123Z
                .put("a`b", "tick`")
                .put("note", "given")
                .put("req", "r1")
                .put("cnt", 5)
                .put("price", new BigDecimal("9.99")));
        // Only the required fields: JsonConverter writes the defaults of `note`,
        // `cnt` and `price` (replace.null.with.default) and nulls elsewhere.
        rows.add(new Struct(VALUE).put("id", 2).put("req", "r2"));
        rows.add(new Struct(VALUE)
                .put("id", 3)
                .put("i8", (byte) 127)
                .put("i16", (short) 32767)
                .put("i32", Integer.MAX_VALUE)
                .put("i64", Long.MAX_VALUE)
                .put("f32", -0.25f)
                .put("f64", -1e-300)
                .put("flag", false)
                .put("s", "")
                .put("b", new byte[0])
                .put("amount", new BigDecimal("-0.05"))
                .put("day", new java.util.Date(0))
                .put("tod", new java.util.Date(0))
                .put("ts", new java.util.Date(-1L)) // 1969-12-31T23:59:59.999Z
                .put("a`b", "")
                .put("note", "")
                .put("req", "")
                .put("cnt", -1)
                .put("price", new BigDecimal("-1.25")));
        rows.add(new Struct(VALUE)
                .put("id", 4)
                .put("i8", (byte) 0)
                .put("i16", (short) 0)
                .put("i32", 0)
                .put("i64", 0L)
                .put("f32", 0.0f)
                .put("f64", 0.0)
                .put("flag", true)
                .put("s", "numeric decimal")
                .put("b", new byte[] {0x01})
                .put("amount", new BigDecimal("123456789012345678901234567890.12"))
                .put("day", new java.util.Date(2_932_896 * DAY_MS)) // 9999-12-31
                .put("tod", new java.util.Date(DAY_MS - 1)) // 23:59:59.999
                .put("ts", new java.util.Date(253_402_300_799_999L)) // 9999-12-31T23:59:59.999Z
                .put("a`b", "four")
                .put("note", "n4")
                .put("req", "r4")
                .put("cnt", 4)
                .put("price", new BigDecimal("4.00")));
        return rows;
    }

    private static void write(PrintStream out, String topic) {
        JsonConverter keys = converter(true, "BASE64");
        JsonConverter base64 = converter(false, "BASE64");
        JsonConverter numeric = converter(false, "NUMERIC");
        for (Struct row : rows()) {
            row.validate();
            Struct key = new Struct(KEY).put("id", row.get("id"));
            JsonConverter values = row.getInt32("id") == 4 ? numeric : base64;
            out.println(text(keys.fromConnectData(topic, KEY, key)) + "\t"
                    + text(values.fromConnectData(topic, VALUE, row)));
        }
        // A tombstone for row 4: the key with a null value.
        Struct key = new Struct(KEY).put("id", 4);
        out.println(text(keys.fromConnectData(topic, KEY, key)) + "\t"
                + text(base64.fromConnectData(topic, null, null)));
    }

    private static String text(byte[] bytes) {
        return bytes == null ? "" : new String(bytes, StandardCharsets.UTF_8);
    }

    // ---- write-debezium -----------------------------------------------------

    static final Schema DBZ_ROW =
            SchemaBuilder.struct()
                    .name("dbserver1.inventory.customers.Value")
                    .optional()
                    .field("id", Schema.INT32_SCHEMA)
                    .field("name", Schema.OPTIONAL_STRING_SCHEMA)
                    .field("amount", Decimal.builder(2).optional().build())
                    .field("seen", Timestamp.builder().optional().build())
                    .build();

    static final Schema DBZ_SOURCE =
            SchemaBuilder.struct()
                    .name("io.debezium.connector.mysql.Source")
                    .field("version", Schema.STRING_SCHEMA)
                    .field("connector", Schema.STRING_SCHEMA)
                    .field("name", Schema.STRING_SCHEMA)
                    .field("ts_ms", Schema.INT64_SCHEMA)
                    .field("snapshot",
                            SchemaBuilder.string()
                                    .optional()
                                    .name("io.debezium.data.Enum")
                                    .version(1)
                                    .parameter("allowed", "true,last,false,incremental")
                                    .defaultValue("false")
                                    .build())
                    .field("db", Schema.STRING_SCHEMA)
                    .field("table", Schema.OPTIONAL_STRING_SCHEMA)
                    .field("file", Schema.STRING_SCHEMA)
                    .field("pos", Schema.INT64_SCHEMA)
                    .build();

    static final Schema DBZ_ENVELOPE =
            SchemaBuilder.struct()
                    .name("dbserver1.inventory.customers.Envelope")
                    .version(1)
                    .field("before", DBZ_ROW)
                    .field("after", DBZ_ROW)
                    .field("source", DBZ_SOURCE)
                    .field("op", Schema.STRING_SCHEMA)
                    .field("ts_ms", Schema.OPTIONAL_INT64_SCHEMA)
                    .build();

    static final Schema DBZ_KEY =
            SchemaBuilder.struct()
                    .name("dbserver1.inventory.customers.Key")
                    .field("id", Schema.INT32_SCHEMA)
                    .build();

    private static Struct dbzRow(int id, String name, String amount, Long seen) {
        return new Struct(DBZ_ROW)
                .put("id", id)
                .put("name", name)
                .put("amount", amount == null ? null : new BigDecimal(amount))
                .put("seen", seen == null ? null : new java.util.Date(seen));
    }

    private static Struct dbzEvent(String op, Struct before, Struct after, long pos) {
        Struct source = new Struct(DBZ_SOURCE)
                .put("version", "2.7.3.Final")
                .put("connector", "mysql")
                .put("name", "dbserver1")
                .put("ts_ms", 1_709_208_000_000L)
                .put("snapshot", "false")
                .put("db", "inventory")
                .put("table", "customers")
                .put("file", "mysql-bin.000003")
                .put("pos", pos);
        return new Struct(DBZ_ENVELOPE)
                .put("before", before)
                .put("after", after)
                .put("source", source)
                .put("op", op)
                .put("ts_ms", 1_709_208_000_123L);
    }

    /**
     * Create 1 and 2, update 1, delete 2 (then its tombstone), create 3. The
     * target ends with rows 1 ("a2", 3.00, 2024-02-29T12:00:00Z) and 3 ("c").
     */
    private static void writeDebezium(PrintStream out, String topic) {
        JsonConverter keys = converter(true, "BASE64");
        JsonConverter values = converter(false, "BASE64");
        Struct a = dbzRow(1, "a", "1.10", null);
        Struct b = dbzRow(2, "b", "-2.50", 0L);
        Struct a2 = dbzRow(1, "a2", "3.00", 1_709_208_000_000L);
        Struct c = dbzRow(3, "c", null, null);
        Object[][] events = {
            {1, dbzEvent("c", null, a, 100)},
            {2, dbzEvent("c", null, b, 200)},
            {1, dbzEvent("u", a, a2, 300)},
            {2, dbzEvent("d", b, null, 400)},
            {2, null},
            {3, dbzEvent("c", null, c, 500)},
        };
        for (Object[] e : events) {
            Struct key = new Struct(DBZ_KEY).put("id", e[0]);
            Struct value = (Struct) e[1];
            if (value != null) {
                value.validate();
            }
            out.println(text(keys.fromConnectData(topic, DBZ_KEY, key)) + "\t"
                    + text(values.fromConnectData(topic, value == null ? null : DBZ_ENVELOPE, value)));
        }
    }
}
