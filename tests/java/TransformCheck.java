// Kafka Connect's own transforms (and Debezium's ExtractNewRecordState) on
// the records Sluice's transform tests feed them, so the tests can diff
// Sluice's transforms against Connect's output. Compiled and run by
// tests/suite/transforms.rs against the Kafka Connect and Debezium jars.
//
//   TransformCheck source|sink <props file>...
//
// Each props file is a Connect connector config's transform part
// (`transforms=...`, `transforms.<alias>.*`, `predicates=...`,
// `predicates.<alias>.*`). stdin: one record a line, tab-separated:
//   topic, partition, offset, timestamp, key, value
// (partition/offset/timestamp empty or a number; key and value Connect JSON
// messages as JsonConverter writes them, empty for null). `source` builds
// SourceRecords (no partition, offset or timestamp), `sink` SinkRecords.
// Prints one line per record: "DROP", or tab-separated topic, key, value
// (JsonConverter's JSON, empty for null) and headers (`name=value` joined by
// `,`, values as SimpleHeaderConverter writes them, `name` alone for a null
// value), or "ERROR <message>"; after each props file's records, "----"
// (or one line "CONFIG <message>" when Connect refuses the config).
// The converter runs with replace.null.with.default=false, so only the
// transforms' own handling of defaults shows.

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.connect.connector.ConnectRecord;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.storage.SimpleHeaderConverter;
import org.apache.kafka.connect.transforms.Transformation;
import org.apache.kafka.connect.transforms.predicates.Predicate;

public final class TransformCheck {
    private static final class Stage {
        Transformation transform;
        Predicate predicate;
        boolean negate;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    public static void main(String[] args) throws Exception {
        if (args.length < 2 || !(args[0].equals("source") || args[0].equals("sink"))) {
            System.err.println("usage: TransformCheck source|sink <props file>...");
            System.exit(64);
        }
        boolean sink = args[0].equals("sink");
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        List<String> lines = new ArrayList<>();
        String read;
        while ((read = in.readLine()) != null) {
            lines.add(read);
        }
        for (int a = 1; a < args.length; a++) {
            Properties props = new Properties();
            try (FileInputStream file = new FileInputStream(args[a])) {
                props.load(new InputStreamReader(file, StandardCharsets.UTF_8));
            }
            run(out, props, sink, lines);
            out.println("----");
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void run(PrintStream out, Properties props, boolean sink, List<String> lines)
            throws Exception {
        List<Stage> stages;
        try {
            stages = stages(props);
        } catch (Exception e) {
            out.println("CONFIG " + e.toString().replace('\n', ' '));
            return;
        }
        JsonConverter keys = converter(true);
        JsonConverter values = converter(false);
        SimpleHeaderConverter headers = new SimpleHeaderConverter();
        headers.configure(new HashMap<>());
        for (String line : lines) {
            String[] f = line.split("\t", -1);
            String topic = f[0];
            SchemaAndValue key = read(keys, topic, f[4]);
            SchemaAndValue value = read(values, topic, f[5]);
            ConnectRecord record;
            if (sink) {
                record = new SinkRecord(topic, Integer.parseInt(f[1]), key.schema(), key.value(),
                        value.schema(), value.value(), Long.parseLong(f[2]),
                        f[3].isEmpty() ? null : Long.parseLong(f[3]),
                        org.apache.kafka.common.record.TimestampType.CREATE_TIME);
            } else {
                record = new SourceRecord(new HashMap<>(), new HashMap<>(), topic, null,
                        key.schema(), key.value(), value.schema(), value.value());
            }
            try {
                for (Stage s : stages) {
                    if (s.predicate == null || s.predicate.test(record) != s.negate) {
                        record = s.transform.apply(record);
                    }
                    if (record == null) {
                        break;
                    }
                }
            } catch (Exception e) {
                out.println("ERROR " + e.toString().replace('\n', ' '));
                continue;
            }
            if (record == null) {
                out.println("DROP");
                continue;
            }
            StringBuilder h = new StringBuilder();
            for (Header header : record.headers()) {
                if (h.length() > 0) {
                    h.append(',');
                }
                h.append(header.key());
                byte[] b = headers.fromConnectHeader(record.topic(), header.key(),
                        header.schema(), header.value());
                if (b != null) {
                    h.append('=').append(new String(b, StandardCharsets.UTF_8));
                }
            }
            String keyText;
            String valueText;
            try {
                // The converter itself refuses some results (a Decimal of the
                // wrong scale): that is the record's error too.
                keyText = write(keys, record.topic(), record.keySchema(), record.key());
                valueText = write(values, record.topic(), record.valueSchema(), record.value());
            } catch (Exception e) {
                out.println("ERROR " + e.toString().replace('\n', ' '));
                continue;
            }
            out.println(record.topic() + "\t" + keyText + "\t" + valueText + "\t" + h);
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static List<Stage> stages(Properties props) throws Exception {
        Map<String, Predicate> predicates = new HashMap<>();
        for (String alias : list(props.getProperty("predicates", ""))) {
            Predicate p = (Predicate) Class
                    .forName(props.getProperty("predicates." + alias + ".type"))
                    .getDeclaredConstructor().newInstance();
            p.configure(sub(props, "predicates." + alias + "."));
            predicates.put(alias, p);
        }
        List<Stage> stages = new ArrayList<>();
        for (String alias : list(props.getProperty("transforms", ""))) {
            String prefix = "transforms." + alias + ".";
            Stage s = new Stage();
            s.transform = (Transformation) Class
                    .forName(props.getProperty(prefix + "type"))
                    .getDeclaredConstructor().newInstance();
            Map<String, Object> config = sub(props, prefix);
            String predicate = (String) config.remove("predicate");
            Object negate = config.remove("negate");
            s.negate = negate != null && Boolean.parseBoolean(negate.toString());
            if (predicate != null) {
                s.predicate = predicates.get(predicate);
            }
            s.transform.configure(config);
            stages.add(s);
        }
        return stages;
    }

    private static List<String> list(String text) {
        List<String> out = new ArrayList<>();
        for (String s : text.split(",")) {
            if (!s.trim().isEmpty()) {
                out.add(s.trim());
            }
        }
        return out;
    }

    private static Map<String, Object> sub(Properties props, String prefix) {
        Map<String, Object> out = new HashMap<>();
        for (String name : props.stringPropertyNames()) {
            if (name.startsWith(prefix) && !name.equals(prefix + "type")) {
                out.put(name.substring(prefix.length()), props.getProperty(name));
            }
        }
        return out;
    }

    private static JsonConverter converter(boolean isKey) {
        JsonConverter c = new JsonConverter();
        Map<String, Object> config = new HashMap<>();
        config.put("schemas.enable", "true");
        config.put("replace.null.with.default", "false");
        config.put("decimal.format", "BASE64");
        c.configure(config, isKey);
        return c;
    }

    private static SchemaAndValue read(JsonConverter c, String topic, String text) {
        if (text.isEmpty()) {
            return SchemaAndValue.NULL;
        }
        return c.toConnectData(topic, text.getBytes(StandardCharsets.UTF_8));
    }

    private static String write(JsonConverter c, String topic,
            org.apache.kafka.connect.data.Schema schema, Object value) {
        byte[] b = c.fromConnectData(topic, schema, value);
        return b == null ? "" : new String(b, StandardCharsets.UTF_8);
    }
}
