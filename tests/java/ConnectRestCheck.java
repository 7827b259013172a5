// Kafka Connect's own REST entity classes (connect-runtime) reading Sluice's
// REST answers. Compiled and run by tests/suite/rest_connect.rs against the
// Kafka jars that scripts/services.sh installs.
//
//   stdin: one answer a line, "<entity>\t<json>". For each line, Jackson (as
//   Connect's REST client uses it, with FAIL_ON_UNKNOWN_PROPERTIES on) reads
//   the JSON into the entity's class and prints "OK <entity>\t<json>" with
//   the object written back by Connect's classes, or "FAIL <entity>\t<why>".
//   Exits 1 when any line failed.
//
// Entities: ServerInfo, ConnectorInfo, ConnectorStateInfo, TaskState,
// TaskInfoList, ConfigInfos, ConfigKeyInfoList, ConnectorOffsets, Message,
// PluginInfoList, ActiveTopics (a map of connector to ActiveTopicsInfo),
// LoggerLevel, LoggerLevels (a map of logger to LoggerLevel), LoggerList
// (the names a PUT changed), ErrorMessage, CreateConnectorRequest.

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.runtime.rest.entities.ActiveTopicsInfo;
import org.apache.kafka.connect.runtime.rest.entities.ConfigInfos;
import org.apache.kafka.connect.runtime.rest.entities.ConfigKeyInfo;
import org.apache.kafka.connect.runtime.rest.entities.ConnectorInfo;
import org.apache.kafka.connect.runtime.rest.entities.ConnectorOffsets;
import org.apache.kafka.connect.runtime.rest.entities.ConnectorStateInfo;
import org.apache.kafka.connect.runtime.rest.entities.CreateConnectorRequest;
import org.apache.kafka.connect.runtime.rest.entities.ErrorMessage;
import org.apache.kafka.connect.runtime.rest.entities.LoggerLevel;
import org.apache.kafka.connect.runtime.rest.entities.Message;
import org.apache.kafka.connect.runtime.rest.entities.PluginInfo;
import org.apache.kafka.connect.runtime.rest.entities.ServerInfo;
import org.apache.kafka.connect.runtime.rest.entities.TaskInfo;

public class ConnectRestCheck {
    public static void main(String[] args) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        mapper.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        // Connect writes enums (PluginInfo's type) by their toString().
        mapper.enable(DeserializationFeature.READ_ENUMS_USING_TO_STRING);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        boolean failed = false;
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            int tab = line.indexOf('\t');
            String entity = tab < 0 ? line : line.substring(0, tab);
            String json = tab < 0 ? "" : line.substring(tab + 1);
            try {
                Object value = entity.equals("ActiveTopics")
                    ? activeTopics(mapper, json)
                    : mapper.readValue(json, type(mapper, entity));
                System.out.println("OK " + entity + "\t" + mapper.writeValueAsString(value));
            } catch (Exception e) {
                failed = true;
                String why = String.valueOf(e.getMessage()).replace('\n', ' ');
                System.out.println("FAIL " + entity + "\t" + e.getClass().getSimpleName() + ": " + why);
            }
        }
        System.out.flush();
        System.exit(failed ? 1 : 0);
    }

    // ActiveTopicsInfo's creator names only "topics" (its connector comes from
    // the map's key), which Jackson cannot use without the parameter-names
    // module: each entry is read strictly and built as Connect's resource does.
    static Map<String, ActiveTopicsInfo> activeTopics(ObjectMapper mapper, String json) throws Exception {
        Map<String, Map<String, List<String>>> raw =
            mapper.readValue(json, new TypeReference<Map<String, Map<String, List<String>>>>() { });
        Map<String, ActiveTopicsInfo> out = new java.util.LinkedHashMap<>();
        for (var e : raw.entrySet()) {
            if (!e.getValue().keySet().equals(java.util.Set.of("topics"))) {
                throw new IllegalArgumentException("ActiveTopicsInfo has only \"topics\": " + e.getValue().keySet());
            }
            out.put(e.getKey(), new ActiveTopicsInfo(e.getKey(), e.getValue().get("topics")));
        }
        return out;
    }

    static JavaType type(ObjectMapper mapper, String entity) {
        var tf = mapper.getTypeFactory();
        switch (entity) {
            case "ServerInfo": return tf.constructType(ServerInfo.class);
            case "ConnectorInfo": return tf.constructType(ConnectorInfo.class);
            case "ConnectorStateInfo": return tf.constructType(ConnectorStateInfo.class);
            case "TaskState": return tf.constructType(ConnectorStateInfo.TaskState.class);
            case "TaskInfoList": return tf.constructType(new TypeReference<List<TaskInfo>>() { });
            case "ConfigInfos": return tf.constructType(ConfigInfos.class);
            case "ConfigKeyInfoList": return tf.constructType(new TypeReference<List<ConfigKeyInfo>>() { });
            case "ConnectorOffsets": return tf.constructType(ConnectorOffsets.class);
            case "Message": return tf.constructType(Message.class);
            case "PluginInfoList": return tf.constructType(new TypeReference<List<PluginInfo>>() { });
            case "LoggerLevel": return tf.constructType(LoggerLevel.class);
            case "LoggerLevels": return tf.constructType(new TypeReference<Map<String, LoggerLevel>>() { });
            case "LoggerList": return tf.constructType(new TypeReference<List<String>>() { });
            case "ErrorMessage": return tf.constructType(ErrorMessage.class);
            case "CreateConnectorRequest": return tf.constructType(CreateConnectorRequest.class);
            default: throw new IllegalArgumentException("unknown entity " + entity);
        }
    }
}
